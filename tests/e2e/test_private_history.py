"""
End-to-end tests of private history (issue 16): the installed C{twistd
chat} with a real SQLite file, clients on loopback TCP, a real restart in
between.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import TestCase

from tests.e2e.support import log_in, start_server, tcp_endpoint
from tests.e2e.test_accounts import register
from tests.e2e.test_rooms import password_log_in


class PrivateHistoryTests(TestCase):
    timeout = 90

    async def test_history_survives_restart(self) -> None:
        """
        Alice and Bob, registered, exchange private messages; after a
        restart Alice asks C{/history bob} and reads them, oldest first; a
        guest asking is told it has no private history.
        """
        database = os.path.abspath(self.mktemp())
        server = await start_server(self, "--database", database)
        port = server.tcp_port
        for name in ("alice", "bob"):
            await register(self, port, name)
        alice = await password_log_in(self, port, "alice")
        bob = await password_log_in(self, port, "bob")
        alice.send_line("bob*hi bob")
        self.assertEqual(await bob.expect("[private]"), "[private] alice: hi bob")
        bob.send_line("/dm alice hi alice")
        self.assertEqual(await alice.expect("[private]"), "[private] bob: hi alice")
        await server.process.stop()

        server = await start_server(self, "--database", database)
        port = server.tcp_port
        alice = await password_log_in(self, port, "alice")
        alice.send_line("/history bob")
        first = await alice.expect("[history ")
        self.assertTrue(first.endswith("] [private with bob] alice: hi bob"), first)
        second = await alice.next_line()
        self.assertTrue(second.startswith("[history "), second)
        self.assertTrue(second.endswith("] [private with bob] bob: hi alice"), second)
        self.assertEqual(
            await alice.next_line(), "* End of private history with bob (2 messages)."
        )
        alice.send_line("/history bob 1")
        last = await alice.expect("[history ")
        self.assertTrue(last.endswith("bob: hi alice"), last)
        await alice.expect("* End of private history with bob (1 message).")

        guest = await log_in(self, tcp_endpoint(port), "carol")
        guest.send_line("/history alice")
        self.assertEqual(
            await guest.expect("ERROR"),
            "ERROR: private conversations are kept only between registered "
            "users; /register PASSWORD to keep yours.",
        )

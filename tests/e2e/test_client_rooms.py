"""
End-to-end test of rooms in C{chat-client}: the installed client in
scriptable mode (stdin a pipe) against the installed C{twistd chat} over
loopback TCP, with a restart of the server in between.

It proves what the unit tests of L{chat.client.session} cannot: that the
room lines and events of the real server are understood and printed, and
that a guest put out of its room by a lost connection is put back in it by
the client itself.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.e2e.support import log_in, start_server, tcp_endpoint
from tests.e2e.test_client import run_client


class ScriptedRoomTests(TestCase):
    """
    A script in a room.
    """

    async def test_room_and_rejoin_after_restart(self) -> None:
        """
        The client joins a room, prints its messages as C{#room NAME: TEXT}
        and sends to it with C{#room*TEXT}; after the server restarts it
        logs in again and joins the room again by itself (a guest's
        membership ends with its connection).
        """
        first = await start_server(self)
        port = first.tcp_port
        watcher = await log_in(self, tcp_endpoint(port), "watcher")
        watcher.send_line("/join #club")
        await watcher.expect("* You created #club")
        client = run_client(self, "--name", "ci-bot", "127.0.0.1", str(port))
        await client.expect_out("* joined as ci-bot")
        client.send_line("/join #club")
        joined = await client.expect_out("* joined #club")
        self.assertRegex(joined, r"^\* joined #club \(2 members: [-\w, ]+\)$")
        watcher.send_line("#club*hello club")
        self.assertEqual(
            await client.expect_out("#club watcher:"), "#club watcher: hello club"
        )
        client.send_line("#club*hi watcher")
        self.assertEqual(
            await watcher.expect("#club ci-bot:"), "#club ci-bot: hi watcher"
        )

        await first.process.stop()
        await client.expect_err("connection lost")
        second = await start_server(self, "--listen", f"tcp:{port}:interface=127.0.0.1")
        await second.process.wait_for_log(rf"ChatFactory starting on {port}$")
        await client.expect_out("* joined as ci-bot")
        # Nobody kept #club alive across the restart: the rejoin makes it.
        self.assertEqual(
            await client.expect_out("#club"),
            "* created #club (1 member: ci-bot); you own it",
        )
        watcher = await log_in(self, tcp_endpoint(port), "watcher")
        watcher.send_line("/join #club")
        await watcher.expect("* You joined #club")
        await client.expect_out("* watcher joined #club")
        watcher.send_line("#club*still here?")
        await client.expect_out("#club watcher: still here?")
        client.close_stdin()
        self.assertEqual(await client.exit_code(), 0)
        self.assertNotIn("ERROR", client.err)

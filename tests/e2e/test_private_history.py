"""
End-to-end tests of private history (issue 16): the installed C{twistd
chat} with a real SQLite file, clients on loopback TCP, a real restart in
between.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from chat.client.session import ClientSession
from tests.client.test_session import FakeView
from tests.e2e.support import TIMEOUT, log_in, start_server, tcp_endpoint
from tests.e2e.test_accounts import PASSWORD, register
from tests.e2e.test_rooms import password_log_in


class TabView(FakeView):
    """
    A view that shows private conversations apart, as chat-client's
    full-screen one does, and records what it is shown.
    """

    fills_private_tabs = True


async def until(condition: Callable[[], bool], what: str) -> None:
    """
    Wait, at most L{TIMEOUT} seconds, for C{condition} to hold.
    """
    from twisted.internet import reactor

    clock = cast(IReactorTime, reactor)
    deadline = clock.seconds() + TIMEOUT
    while not condition():
        if clock.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await deferLater(clock, 0.02, lambda: None)


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

    async def test_client_fills_conversation(self) -> None:
        """
        After a restart, chat-client's session (as the full-screen view
        uses it) fills the conversation that a private message opens with
        its past: the earlier messages once, marked as history, then the
        new one live, not repeated.
        """
        database = os.path.abspath(self.mktemp())
        server = await start_server(self, "--database", database)
        port = server.tcp_port
        for name in ("alice", "bob"):
            await register(self, port, name)
        alice = await password_log_in(self, port, "alice")
        bob = await password_log_in(self, port, "bob")
        alice.send_line("bob*before the restart")
        await bob.expect("before the restart")
        await server.process.stop()

        server = await start_server(self, "--database", database)
        port = server.tcp_port
        from twisted.internet import reactor

        view = TabView()
        session = ClientSession(
            view,
            tcp_endpoint(port),
            server=f"127.0.0.1:{port}",
            tls=False,
            clock=cast(IReactorTime, reactor),
            name="alice",
            password=PASSWORD,
        )
        session.start()
        self.addCleanup(session.stop, 0)
        await until(
            lambda: any(e["type"] == "stored-end" for e in view.events), "login"
        )
        bob = await password_log_in(self, port, "bob")
        bob.send_line("alice*are you back?")

        def privates() -> list[tuple[Any, Any]]:
            return [
                (e.get("text"), e.get("history"))
                for e in view.events
                if e["type"] == "private"
            ]

        await until(lambda: len(privates()) >= 2, "the replay")
        await until(
            lambda: any(e["type"] == "history-end" for e in view.events), "its end"
        )
        self.assertEqual(
            privates(), [("are you back?", None), ("before the restart", True)]
        )
        self.assertEqual(view.errors, [])

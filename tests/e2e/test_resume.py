"""
End-to-end tests of resuming (issue 16): chat-client's session against the
installed C{twistd chat} with a real SQLite file reconnects many times and
across a restart, and shows every message exactly once.
"""

from __future__ import annotations

import os
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from chat.client.session import ClientSession
from tests.client.test_session import FakeView
from tests.e2e.support import EXEMPT_LOOPBACK, log_in, start_server, tcp_endpoint
from tests.e2e.test_private_history import until


@implementer(IStreamClientEndpoint)
class Switch:
    """
    An endpoint that connects wherever C{target} says: the restarted server
    listens on another ephemeral port, the client is the same.
    """

    def __init__(self, target: IStreamClientEndpoint) -> None:
        self.target = target

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        return self.target.connect(protocolFactory)


class ResumeTests(TestCase):
    timeout = 120

    async def test_exactly_once_across_reconnects_and_a_restart(self) -> None:
        """
        Bob says a line before each of ten drops of alice's chat-client
        connection and a server restart; alice's scrollback has each of
        them once, in order, and what was said while she was away too.
        """
        from twisted.internet import reactor

        database = os.path.abspath(self.mktemp())
        server = await start_server(self, "--database", database, *EXEMPT_LOOPBACK)
        port = server.tcp_port
        bob = await log_in(self, tcp_endpoint(port), "bob")
        bob.send_line("before alice")
        switch = Switch(tcp_endpoint(port))
        view = FakeView()
        session = ClientSession(
            view,
            switch,
            server="chat.test",
            tls=False,
            clock=cast(IReactorTime, reactor),
            name="alice",
        )
        session.start()
        self.addCleanup(session.stop, 0)

        def texts() -> list[Any]:
            return [
                e.get("text") for e in view.events if e["type"] in ("message", "action")
            ]

        def welcomes() -> int:
            return sum(1 for e in view.events if e["type"] == "welcome")

        await until(lambda: "before alice" in texts(), "the first replay")
        said = ["before alice"]
        for i in range(10):
            line = f"live {i}"
            bob.send_line(line)
            said.append(line)
            await until(lambda line=line: line in texts(), line)  # type: ignore[misc]
            joined = welcomes()
            protocol = session._protocol
            assert protocol is not None and protocol.transport is not None
            protocol.transport.loseConnection()
            if i % 3 == 0:
                # Said while alice is away: replayed once.
                away = f"away {i}"
                bob.send_line(away)
                said.append(away)
            await until(
                lambda joined=joined: welcomes() > joined,  # type: ignore[misc]
                f"reconnection {i}",
            )
        await until(lambda: texts()[-1:] == said[-1:], "the last replay")

        joined = welcomes()
        await server.process.stop()
        server = await start_server(self, "--database", database, *EXEMPT_LOOPBACK)
        switch.target = tcp_endpoint(server.tcp_port)
        bob = await log_in(self, tcp_endpoint(server.tcp_port), "bob")
        await until(lambda: welcomes() > joined, "the reconnection after the restart")
        bob.send_line("after the restart")
        said.append("after the restart")
        await until(lambda: "after the restart" in texts(), "after the restart")
        self.assertEqual(texts(), said)
        self.assertEqual(view.errors, [])

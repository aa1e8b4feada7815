"""
End-to-end tests of the connection rules (issue 15) on the installed
C{twistd chat}: the per-address limit on loopback with the defaults, a
port in use, and the notice at SIGTERM.
"""

from __future__ import annotations

import os
from typing import cast

from twisted.internet.error import ProcessTerminated
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.e2e.support import (
    TIMEOUT,
    TWISTD,
    LineClient,
    ServerProcess,
    connect,
    log_in,
    start_server,
    tcp_endpoint,
    temp_dir,
    tls_endpoint,
)

GREETING = "Welcome to txchat! Please enter your name:"
NOTICE = "* The server is shutting down; please reconnect in a moment."


class PerAddressTests(TestCase):
    """
    With the defaults, loopback is not exempt.
    """

    async def test_seventeenth_refused(self) -> None:
        """
        Sixteen connections from 127.0.0.1 are greeted; the seventeenth is
        sent one reason line and closed; once one of the sixteen leaves,
        a new one is greeted.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        clients: list[LineClient] = []
        for i in range(16):
            client = await connect(self, endpoint, f"c{i}")
            self.assertEqual(await client.next_line(), GREETING)
            clients.append(client)
        refused = await connect(self, endpoint, "c16")
        await refused.wait_closed()
        self.assertEqual(
            refused.lines,
            [
                "ERROR: too many connections from your address; at most 16 "
                "at once: close one and try again."
            ],
        )
        await clients[0].close()
        again = await connect(self, endpoint, "again")
        self.assertEqual(await again.next_line(), GREETING)
        await server.process.wait_for_log("refused a connection from 127.0.0.1")


class PortInUseTests(TestCase):
    """
    A port another process listens on.
    """

    async def test_one_line_and_failure(self) -> None:
        """
        A second server on the first one's port logs one line that says
        where and why, no traceback, nothing about the store, and exits
        with status 1; the first one goes on.
        """
        first = await start_server(self)
        directory = temp_dir(self)
        args = [TWISTD, "--nodaemon", "--pidfile=", "--logfile=-", "chat"]
        args += ["--listen", f"tcp:{first.tcp_port}:interface=127.0.0.1"]
        args += ["--no-web"]
        second = ServerProcess()
        from twisted.internet import reactor

        cast(IReactorProcess, reactor).spawnProcess(
            second, TWISTD, args, env=dict(os.environ), path=directory
        )
        self.addCleanup(second.kill)
        reason = await second._wait_ended(TIMEOUT)
        self.assertIsInstance(reason, ProcessTerminated, second.log)
        assert isinstance(reason, ProcessTerminated)
        self.assertEqual(reason.exitCode, 1, second.log)
        errors = [line for line in second.log_lines if "cannot listen" in line]
        self.assertEqual(len(errors), 1, second.log)
        self.assertIn(
            f"cannot listen on 127.0.0.1:{first.tcp_port}: [Errno 98] Address "
            "already in use; stopping",
            errors[0],
        )
        self.assertNotIn("Traceback", second.log)
        self.assertNotIn("store could not", second.log)
        client = await log_in(self, tcp_endpoint(first.tcp_port), "alice")
        self.assertFalse(client.lines[-1].startswith("ERROR"))


class ShutdownTests(TestCase):
    """
    SIGTERM.
    """

    async def test_everyone_told(self) -> None:
        """
        Every connected user, with a name or not yet, receives the notice
        as its last line and is disconnected; the server exits cleanly.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "alice")
        bob = await log_in(self, endpoint, "bob")
        nameless = await connect(self, endpoint, "nameless")
        self.assertEqual(await nameless.next_line(), GREETING)
        json_user = await connect(self, endpoint, "carol")
        await json_user.expect("name")
        json_user.send_line("/mode json")
        await json_user.expect('"mode"')
        await server.process.stop()
        for client in (alice, bob, nameless):
            await client.wait_closed()
            self.assertEqual(client.lines[-1], NOTICE, client.lines)
        await json_user.wait_closed()
        self.assertIn('"type":"shutdown"', json_user.lines[-1])


class HandshakeTests(TestCase):
    """
    The TLS handshake deadline on a real TLS listener.
    """

    async def test_stalled_dropped(self) -> None:
        """
        A client that opens a TLS connection and never sends its hello is
        dropped after C{--tls-handshake-timeout}; one that finished its
        handshake stays.
        """
        server = await start_server(self, "--tls-handshake-timeout", "1", tls=True)
        assert server.tls_port is not None
        alice = await log_in(self, tls_endpoint(server), "alice")
        stalled = await connect(self, tcp_endpoint(server.tls_port), "stalled")
        await stalled.wait_closed(5)
        self.assertEqual(stalled.lines, [])
        from twisted.internet import reactor

        await deferLater(cast(IReactorTime, reactor), 0.5)
        alice.send_line("/users")
        self.assertEqual(await alice.next_line(), "* Online (1): alice")
        await server.process.wait_for_log("no TLS handshake within 1.0 seconds")

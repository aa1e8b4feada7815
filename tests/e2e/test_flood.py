"""
End-to-end tests of flood control: the real C{twistd chat}, real clients
on loopback sockets.  One user flooding cannot knock the others off.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.e2e.support import barrier, log_in, start_server, tcp_endpoint

# Small limits, so that the flooder is dropped within a second or two.
BURST = 5
RATE = 5
BACKLOG = 1


class FloodTests(TestCase):
    """
    A guest that sends as fast as it can.
    """

    async def test_flooder_slowed_then_dropped(self) -> None:
        """
        The flooder's burst goes through, the rest is held to its rate,
        and once it has been held back for C{--flood-backlog} seconds it
        is told why and disconnected; meanwhile another user's private
        messages reach Bob at once, and Bob is told the flooder left.
        """
        server = await start_server(
            self,
            "--guest-flood-burst",
            str(BURST),
            "--guest-flood-rate",
            str(RATE),
            "--flood-backlog",
            str(BACKLOG),
        )
        endpoint = tcp_endpoint(server.tcp_port)
        bob = await log_in(self, endpoint, "bob")
        carol = await log_in(self, endpoint, "carol")
        flooder = await log_in(self, endpoint, "flooder")
        await bob.expect("* flooder just joined the server")
        await barrier(self, bob)
        flooder.send(b"".join(b"spam %d\r\n" % i for i in range(500)))
        await bob.expect("flooder: spam 0")
        carol.send_line("bob*are you there?")
        await bob.expect("[private] carol: are you there?")
        error = await flooder.expect("ERROR:", timeout=10)
        self.assertEqual(
            error,
            "ERROR: you are sending faster than the server lets you, and kept "
            "on (excess flood); disconnecting.",
        )
        await flooder.wait_closed()
        await bob.expect("* flooder left the chat (excess flood)")
        spam = [line for line in bob.lines if line.startswith("flooder: spam")]
        # The burst (less the token its name took), then RATE a second for
        # about BACKLOG seconds: nowhere near the 500 it sent.
        self.assertLess(len(spam), BURST + RATE * (BACKLOG + 2))
        self.assertEqual(spam, [f"flooder: spam {i}" for i in range(len(spam))])
        carol.send_line("bob*still here")
        await bob.expect("[private] carol: still here")
        await server.process.wait_for_log(r"excess flood")

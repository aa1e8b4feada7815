"""
End-to-end tests of mentions and C{/away} (issue 16): the installed
C{twistd chat}, clients on loopback TCP, what users see.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import TestCase

from tests.e2e.support import barrier, log_in, start_server, tcp_endpoint


class MentionsTests(TestCase):
    timeout = 60

    async def test_mention_and_away(self) -> None:
        """
        Carol in JSON mode gets C{mention: true} on the message naming her
        only; bob in text mode sees it unchanged.  Bob away: alice's
        private message reaches him, and alice is told once, with the
        reason.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "alice")
        bob = await log_in(self, endpoint, "bob")
        carol = await log_in(self, endpoint, "carol")
        carol.send_line("/mode json")
        self.assertEqual(json.loads(await carol.expect('"mode"'))["mode"], "json")
        await alice.expect("carol just joined")
        await bob.expect("carol just joined")
        await barrier(self, alice)
        await barrier(self, bob)

        alice.send_line("hi all")
        alice.send_line("Carol, lunch?")
        first = json.loads(await carol.expect('"hi all"'))
        second = json.loads(await carol.next_line())
        self.assertNotIn("mention", first)
        self.assertEqual((second["text"], second["mention"]), ("Carol, lunch?", True))
        self.assertEqual(await bob.expect("lunch"), "alice: Carol, lunch?")

        bob.send_line("/away gone fishing")
        self.assertEqual(
            await bob.expect("away"), "* You are marked as away: gone fishing"
        )
        alice.send_line("bob*are you there?")
        alice.send_line("bob*hello?")
        self.assertEqual(await alice.expect("away"), "* bob is away: gone fishing")
        await barrier(self, alice)
        self.assertEqual(await bob.expect("there"), "[private] alice: are you there?")
        self.assertEqual(await bob.next_line(), "[private] alice: hello?")

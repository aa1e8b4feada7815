"""
End-to-end tests of names that cannot impersonate (issue 15): the
installed C{twistd chat}, clients on loopback TCP.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.e2e.support import barrier, connect, log_in, start_server, tcp_endpoint

GREETING = "Welcome to txchat! Please enter your name:"


class ImpersonationTests(TestCase):
    """
    With C{alice} online, nobody can be a name that is or looks like hers.
    """

    async def test_lookalikes_refused(self) -> None:
        """
        C{ａｌｉｃｅ} (fullwidth) is her name, taken; C{аlice} (Cyrillic a)
        looks like her; C{alice} with a zero-width space is invalid.  The
        same connection then takes a name of its own, and a private message
        to C{ａｌｉｃｅ} reaches her.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "alice")
        other = await connect(self, endpoint, "other")
        self.assertEqual(await other.next_line(), GREETING)
        other.send_line("ａｌｉｃｅ")
        self.assertEqual(
            await other.next_line(),
            "ERROR: the name ａｌｉｃｅ is already taken; please choose another.",
        )
        other.send_line("\u0430lice")
        self.assertEqual(
            await other.next_line(),
            "ERROR: \u0430lice looks like alice, who is online; please choose "
            "another name.",
        )
        other.send_line("alice\u200b")
        error = await other.next_line()
        self.assertTrue(error.startswith("ERROR: "), error)
        self.assertIn("U+200B ZERO WIDTH SPACE", error)
        other.send_line("bob")
        self.assertIn("bob", await other.next_line())
        self.assertEqual(await alice.next_line(), "* bob just joined the server")
        other.send_line("ａｌｉｃｅ*hello")
        self.assertEqual(await alice.next_line(), "[private] bob: hello")
        await barrier(self, alice)
        await barrier(self, other)

    async def test_fullwidth_room_is_the_room(self) -> None:
        """
        C{/join #ｓｅｃｒｅｔ} joins C{#secret}; a room that only looks like
        it is refused.
        """
        server = await start_server(self)
        endpoint = tcp_endpoint(server.tcp_port)
        alice = await log_in(self, endpoint, "alice")
        bob = await log_in(self, endpoint, "bob")
        await alice.expect("bob just joined")
        alice.send_line("/join #secret")
        self.assertEqual(await alice.next_line(), "* You created #secret; you own it.")
        bob.send_line("/join #ｓｅｃｒｅｔ")
        await alice.expect("bob joined #secret")
        bob.send_line("/join #\u0455ecret")
        await bob.expect(
            "ERROR: #\u0455ecret looks like #secret, which exists; /join #secret, "
            "or choose another room name."
        )
        bob.send_line("/rooms")
        await bob.expect("#secret")
        await barrier(self, alice)
        await barrier(self, bob)

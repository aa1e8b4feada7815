"""
End-to-end tests of rooms: the installed C{twistd chat} with a real SQLite
file, clients on loopback TCP, a real restart in between.
"""

from __future__ import annotations

import json
import os

from twisted.trial.unittest import TestCase

from tests.e2e.support import LineClient, connect, log_in, start_server, tcp_endpoint
from tests.e2e.test_accounts import PASSWORD, ask_for, register


async def password_log_in(case: TestCase, port: int, name: str) -> LineClient:
    """
    Log the registered C{name} in; the welcome and stored-messages lines
    are read.
    """
    client = await ask_for(case, port, name)
    client.send_line(PASSWORD)
    case.assertIn(f"Hello {name}", await client.next_line())
    await client.expect("waiting for you")
    return client


class RoomTests(TestCase):
    timeout = 90

    async def test_rooms_survive_restart(self) -> None:
        """
        Three registered users make a public and a private room and chat in
        both; after a restart they are back in their rooms with topics,
        membership and history as they left them, and the one who had left
        early is shown what it missed.
        """
        database = os.path.abspath(self.mktemp())
        server = await start_server(self, "--database", database)
        port = server.tcp_port
        for name in ("alice", "bob", "carol"):
            await register(self, port, name)
        alice = await password_log_in(self, port, "alice")
        bob = await password_log_in(self, port, "bob")
        carol = await password_log_in(self, port, "carol")

        alice.send_line("/join #club")
        self.assertEqual(
            await alice.expect("#club"), "* You created #club; you own it."
        )
        alice.send_line("/topic #club Tuesday chess")
        await alice.expect("set the topic of #club")
        for client in (bob, carol):
            client.send_line("/join #club")
            await client.expect("* You joined #club")
        alice.send_line("/join #secret")
        await alice.expect("* You created #secret")
        alice.send_line("/mode #secret +i")
        await alice.expect("made #secret invite-only")
        alice.send_line("/invite bob #secret")
        await bob.expect("* alice invites you to #secret")
        bob.send_line("/join #secret")
        await bob.expect("* You joined #secret")
        carol.send_line("/join #secret")
        self.assertIn("#secret is invite-only", await carol.expect("ERROR"))

        alice.send_line("#club*hello club")
        for client in (bob, carol):
            self.assertEqual(
                await client.expect("#club alice:"), "#club alice: hello club"
            )
        bob.send_line("#secret*just us")
        self.assertEqual(await alice.expect("#secret bob:"), "#secret bob: just us")
        carol.send_line("/quit")
        await carol.wait_closed()
        alice.send_line("#club*while you were out")
        await bob.expect("while you were out")
        await server.process.stop()

        server = await start_server(self, "--database", database)
        port = server.tcp_port
        alice = await password_log_in(self, port, "alice")
        self.assertEqual(
            await alice.expect("#club ("),
            "* You are back in #club (1 member: alice). Topic: Tuesday chess",
        )
        await alice.expect("* You are back in #secret (1 member: alice).")
        alice.send_line("/rooms")
        await alice.expect("* Rooms (2):")
        self.assertEqual(await alice.next_line(), "*   #club  1 member  Tuesday chess")
        self.assertEqual(await alice.next_line(), "*   #secret  1 member (invite-only)")
        alice.send_line("/history #secret")
        self.assertTrue(
            (await alice.expect("just us")).endswith("#secret bob: just us")
        )
        carol = await password_log_in(self, port, "carol")
        await carol.expect("* You are back in #club (2 members: alice, carol).")
        missed = await carol.next_line()
        self.assertTrue(missed.startswith("[history "), missed)
        self.assertTrue(missed.endswith("#club alice: while you were out"), missed)
        self.assertEqual(
            await carol.next_line(),
            "* End of what you missed in #club (1 message).",
        )
        self.assertEqual(await alice.expect("carol joined"), "* carol joined #club")
        carol.send_line("#secret*let me in")
        self.assertIn("you are not in #secret", await carol.expect("ERROR"))
        # Bob, online until the clean stop, missed nothing: he is back in
        # #club and in #secret (which he joined by invitation), and no more.
        bob = await password_log_in(self, port, "bob")
        self.assertEqual(
            await bob.next_line(),
            "* You are back in #club (3 members: alice, bob, carol)."
            " Topic: Tuesday chess",
        )
        self.assertEqual(
            await bob.next_line(), "* You are back in #secret (2 members: alice, bob)."
        )
        self.assertEqual(await alice.expect("bob joined #club"), "* bob joined #club")
        self.assertEqual(
            await alice.expect("bob joined #secret"), "* bob joined #secret"
        )
        self.assertEqual(await carol.expect("bob joined #"), "* bob joined #club")
        carol.send_line("#club*back")
        self.assertEqual(await alice.expect("#club carol:"), "#club carol: back")
        self.assertEqual(await bob.next_line(), "#club carol: back")
        bob.send_line("#secret*still just us")
        self.assertEqual(
            await alice.expect("#secret bob:"), "#secret bob: still just us"
        )

    async def test_json_and_guests(self) -> None:
        """
        A JSON client gets room events with their fields; a guest's
        membership ends when it disconnects.
        """
        server = await start_server(self)
        port = server.tcp_port
        program = await connect(self, tcp_endpoint(port), "program")
        await program.expect("name")
        program.send_line("/mode json")
        await program.expect('"prompt"')
        program.send_line("bot")
        await program.expect('"welcome"')
        program.send_line("/join #ops")
        joined = json.loads(await program.expect('"room-joined"'))
        self.assertEqual(
            (joined["room"], joined["created"], joined["owner"]),
            ("#ops", True, "bot"),
        )
        guest = await log_in(self, tcp_endpoint(port), "dave")
        guest.send_line("/join #ops")
        await guest.expect("* You joined #ops (2 members: bot, dave).")
        event = json.loads(await program.expect('"room-join"'))
        self.assertEqual((event["room"], event["name"]), ("#ops", "dave"))
        guest.send_line("#ops*ping")
        message = json.loads(await program.expect('"message"'))
        self.assertEqual(
            (message["room"], message["from"], message["text"]),
            ("#ops", "dave", "ping"),
        )
        await guest.close()
        left = json.loads(await program.expect('"room-leave"'))
        self.assertEqual((left["name"], left["by"]), ("dave", None))
        guest = await log_in(self, tcp_endpoint(port), "dave")
        guest.send_line("#ops*still in?")
        self.assertIn("you are not in #ops", await guest.expect("ERROR"))

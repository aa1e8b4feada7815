"""
End-to-end tests of accounts, offline messages and history: the installed
C{twistd chat} with a real SQLite file, clients on loopback TCP.
"""

from __future__ import annotations

import json
import os

from twisted.trial.unittest import TestCase

from tests.e2e.support import (
    LineClient,
    barrier,
    connect,
    log_in,
    start_server,
    tcp_endpoint,
)

PASSWORD = "sesame-42"


async def register(case: TestCase, port: int, name: str) -> None:
    """
    Log C{name} in as a guest, register it and quit.
    """
    client = await log_in(case, tcp_endpoint(port), name)
    client.send_line(f"/register {PASSWORD}")
    case.assertIn("is now registered", await client.expect("registered"))
    case.assertIn("travels in clear", await client.next_line())
    client.send_line("/quit")
    await client.wait_closed()


async def ask_for(case: TestCase, port: int, name: str) -> LineClient:
    """
    Connect and ask for the registered C{name}: the password prompt, with
    the in-clear warning, is read.
    """
    client = await connect(case, tcp_endpoint(port), name)
    await client.expect("name")
    client.send_line(name)
    case.assertIn("registered name", await client.next_line())
    case.assertIn("travels in clear", await client.next_line())
    case.assertEqual(await client.next_line(), "Password:")
    return client


class AccountTests(TestCase):
    timeout = 60

    async def test_register_and_log_in(self) -> None:
        """
        A registered name asks for its password: a wrong one is refused
        and the name asked again; the right one lets the owner in.
        """
        server = await start_server(self)
        await register(self, server.tcp_port, "alice")
        client = await ask_for(self, server.tcp_port, "alice")
        client.send_line("guess-123")
        error = await client.next_line()
        self.assertTrue(error.startswith("ERROR: wrong password"), error)
        self.assertIn("name", await client.next_line())
        client.send_line("alice")
        await client.expect("Password:")
        client.send_line(PASSWORD)
        self.assertIn("Hello alice", await client.next_line())
        self.assertEqual(
            await client.next_line(), "* No messages were waiting for you."
        )

    async def test_throttled(self) -> None:
        """
        After five wrong passwords in a minute the name is still asked for
        its password, which is then refused unchecked, even the right one.
        """
        server = await start_server(self)
        await register(self, server.tcp_port, "alice")
        client = await ask_for(self, server.tcp_port, "alice")
        answers = []
        for _ in range(5):
            client.send_line("guess-123")
            self.assertIn("wrong password", await client.next_line())
            await client.expect("name")
            client.send_line("alice")
            answers.append(
                await client.expect(lambda line: line == "Password:" or "ERROR" in line)
            )
        self.assertEqual(answers, ["Password:"] * 5)
        client.send_line(PASSWORD)
        self.assertIn("too many wrong passwords", await client.next_line())
        self.assertIn("name", await client.next_line())

    async def test_offline_messages_survive_kill(self) -> None:
        """
        Private messages to an offline registered user are stored; after a
        C{kill -9} and a restart on the same file, the user gets them in
        order at login, then a count.
        """
        database = os.path.abspath(self.mktemp())
        server = await start_server(self, "--database", database)
        await register(self, server.tcp_port, "bob")
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        for text in ("first", "second"):
            alice.send_line(f"bob*{text}")
            self.assertIn(
                "bob is offline; your message is stored", await alice.next_line()
            )
        await server.process.kill()

        server = await start_server(self, "--database", database)
        bob = await ask_for(self, server.tcp_port, "bob")
        bob.send_line(PASSWORD)
        self.assertIn("Hello bob", await bob.next_line())
        first, second = await bob.next_line(), await bob.next_line()
        self.assertRegex(
            first, r"^\[private, sent \d{4}-\d\d-\d\d \d\d:\d\d UTC\] alice: first$"
        )
        self.assertTrue(second.endswith("] alice: second"), second)
        self.assertEqual(await bob.next_line(), "* 2 messages were waiting for you.")

    async def test_json_acknowledgement(self) -> None:
        """
        A JSON client keeps getting a stored message at each login until it
        acknowledges it with C{/ack ID}.
        """
        server = await start_server(self)
        await register(self, server.tcp_port, "bob")
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        alice.send_line("bob*keep me")
        await alice.expect("stored")

        async def json_login() -> tuple[LineClient, list[dict[str, object]]]:
            bob = await connect(self, tcp_endpoint(server.tcp_port), "bob")
            await bob.expect("name")
            bob.send_line("/mode json")
            await bob.expect('"prompt":"name"')
            bob.send_line("bob")
            await bob.expect('"prompt":"password"')
            bob.send_line(PASSWORD)
            await bob.expect('"type":"stored-end"')
            after_mode = bob.lines[
                next(i for i, line in enumerate(bob.lines) if '"type":"mode"' in line) :
            ]
            self.assertEqual([line for line in after_mode if line[:1] != "{"], [])
            events = [json.loads(line) for line in bob.lines if line.startswith("{")]
            return bob, [e for e in events if e.get("stored")]

        bob, stored = await json_login()
        self.assertEqual(
            [(e["from"], e["text"]) for e in stored], [("alice", "keep me")]
        )
        bob.send_line("/quit")
        await bob.wait_closed()
        bob, again = await json_login()
        self.assertEqual(again, stored)
        bob.send_line(f"/ack {stored[0]['id']}")
        bob.send_line("/quit")
        await bob.wait_closed()
        _, none = await json_login()
        self.assertEqual(none, [])


class HistoryTests(TestCase):
    timeout = 60

    async def test_history(self) -> None:
        """
        A user who joins sees the last broadcasts marked as history;
        C{/history N} shows the last N.
        """
        server = await start_server(self, "--history-on-join", "2")
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        for text in ("one", "two", "three"):
            alice.send_line(text)
        alice.send_line("/history 3")
        await alice.expect("End of history (3 messages)")
        carol = await log_in(self, tcp_endpoint(server.tcp_port), "carol")
        self.assertRegex(await carol.next_line(), r"^\[history .*\] alice: two$")
        self.assertRegex(await carol.next_line(), r"^\[history .*\] alice: three$")
        self.assertEqual(await carol.next_line(), "* End of history (2 messages).")
        carol.send_line("/history 1")
        self.assertRegex(await carol.next_line(), r"^\[history .*\] alice: three$")


class PipelinedLoginTests(TestCase):
    """
    A name and its password sent in one write, as scripts send them,
    never leak the password, whatever the server answers to the name
    (issue 15).
    """

    timeout = 60

    async def test_pipelined_after_throttle(self) -> None:
        """
        After a name is throttled, a client that sends the name and its
        password in one write is asked for the password, the password is
        refused as throttled and nothing else: no C{Hello <password>}, no
        broadcast of it, nothing of it in the server's log; a password
        after a refused name is discarded the same way.
        """
        server = await start_server(self)
        await register(self, server.tcp_port, "alice")
        bob = await log_in(self, tcp_endpoint(server.tcp_port), "bob")
        guesser = await connect(self, tcp_endpoint(server.tcp_port), "guesser")
        await guesser.expect("name")
        for _ in range(5):
            guesser.send(b"alice\r\nguess-123\r\n")
            await guesser.expect("ERROR: wrong password")
            await guesser.expect("name")

        victim = await connect(self, tcp_endpoint(server.tcp_port), "victim")
        await victim.expect("name")
        victim.send(b"alice\r\nHunter2secret\r\n")
        self.assertEqual(await victim.expect("Password:"), "Password:")
        error = await victim.next_line()
        self.assertRegex(
            error, r"^ERROR: too many wrong passwords; try again in \d+ seconds\.$"
        )
        self.assertIn("name", await victim.next_line())
        victim.send(b"grace \r\nHunter2secret\r\n")
        error = await victim.next_line()
        self.assertTrue(error.startswith("ERROR: a name cannot contain"), error)
        self.assertTrue(error.endswith("What you sent after it was discarded."))
        victim.send_line("/quit")
        await victim.wait_closed()
        await server.process.wait_for_log("throttled a password for alice")

        await barrier(self, bob)
        for client in (bob, victim):
            self.assertNotIn(b"Hunter2secret", client.raw)
        self.assertNotIn("Hello Hunter2", "\n".join(victim.lines))
        self.assertNotIn("Hunter2secret", server.process.log)

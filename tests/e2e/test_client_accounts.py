"""
End-to-end tests of C{chat-client} with a registered name: the installed
client in scriptable mode (stdin a pipe) against the installed C{twistd chat}
with a real SQLite C{--database}, over loopback TCP.

They prove what unit tests of L{chat.client.session} cannot: that a script
can register, log in again with C{--password-file} or C{CHAT_PASSWORD}, is
refused with a wrong password, and gets (and acknowledges) the private
messages stored for it while it was away, all against the real server.
"""

from __future__ import annotations

import os
from typing import Final, cast

from twisted.internet.interfaces import IReactorProcess
from twisted.trial.unittest import TestCase

from chat.client.main import PASSWORD_ENV
from tests.e2e.support import ChatServer, barrier, log_in, start_server, tcp_endpoint
from tests.e2e.test_client import CHAT_CLIENT, ClientProcess

PASSWORD: Final = "sesame-42"
WRONG: Final = "guess-1234"

#: What the client prints once the server confirms C{/register} on plain TCP.
REGISTERED: Final = (
    "* {name} is now registered; it needs your password from now on"
    " (warning: the password travelled in clear, without TLS)"
)
#: A stored private message as the client prints it: marked, with its time.
STORED: Final = r"^\[stored, sent \d{{4}}-\d\d-\d\d \d\d:\d\d\] {sender}: {text}$"


async def accounts_server(case: TestCase) -> ChatServer:
    """
    C{twistd chat} with accounts kept in a fresh SQLite file.
    """
    return await start_server(case, "--database", os.path.abspath(case.mktemp()))


def password_file(case: TestCase, password: str) -> str:
    """
    A file, readable by its owner only, whose first line is C{password}.
    """
    path: str = os.path.abspath(case.mktemp())
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(password + "\n")
    return path


def run_client(
    case: TestCase,
    *args: str,
    stdin: str | None = None,
    environ_password: str | None = None,
    label: str = "chat-client",
) -> ClientProcess:
    """
    Start C{chat-client args} as a script does; C{case} kills it in its
    cleanup if it is still running.

    Unlike L{tests.e2e.test_client.run_client}, this controls
    C{CHAT_PASSWORD}: it is removed from the inherited environment (so a
    developer's own cannot leak in) and set only to C{environ_password}.

    @param stdin: if given, written to the client's stdin, which is then
        closed; otherwise stdin stays open.
    """
    for secret in (PASSWORD, WRONG):
        # The point of --password-file and CHAT_PASSWORD: never in argv.
        case.assertFalse([arg for arg in args if secret in arg], args)
    env = {key: value for key, value in os.environ.items() if key != PASSWORD_ENV}
    if environ_password is not None:
        env[PASSWORD_ENV] = environ_password
    process = ClientProcess(label)
    from twisted.internet import reactor

    cast(IReactorProcess, reactor).spawnProcess(
        process, CHAT_CLIENT, [CHAT_CLIENT, *args], env=env
    )
    case.addCleanup(process.kill)
    if stdin is not None:
        assert process.transport is not None
        process.transport.write(stdin.encode("utf-8"))
        process.transport.closeStdin()
    return process


def target(server: ChatServer, name: str) -> tuple[str, ...]:
    """
    The arguments that make the client join C{server} as C{name}.
    """
    return ("--name", name, "127.0.0.1", str(server.tcp_port))


async def register(case: TestCase, server: ChatServer, name: str) -> None:
    """
    Join as the guest C{name} with the client, C{/register PASSWORD}, and
    check that the client showed the server's confirmation (and never the
    password) and exited 0.
    """
    client = run_client(
        case, *target(server, name), stdin=f"/register {PASSWORD}\n", label=name
    )
    case.assertEqual(await client.exit_code(), 0, client.err)
    case.assertEqual(
        client.out_lines,
        [f"* joined as {name}; 1 online: {name}", REGISTERED.format(name=name)],
    )
    case.assertNotIn(PASSWORD, client.out + client.err)


class RegisteredNameTests(TestCase):
    """
    Registering, and logging in again without a password on the command
    line.
    """

    timeout = 60

    async def test_register(self) -> None:
        """
        The client's C{/register PASSWORD} registers the name: a later
        client that gives no password is told the name is registered and
        how to give the password, and exits 1 without joining.
        """
        server = await accounts_server(self)
        await register(self, server, "alice")
        client = run_client(self, *target(server, "alice"), stdin="hello\n")
        self.assertEqual(await client.exit_code(), 1)
        self.assertEqual(client.out, "")
        self.assertEqual(
            client.err,
            "ERROR: alice is a registered name; give --password-file FILE or "
            "set CHAT_PASSWORD.\n",
        )

    async def test_password_file(self) -> None:
        """
        With C{--password-file} the client logs the registered name in and
        its lines reach the other users; it quits by itself at the end of
        its input, exit status 0.
        """
        server = await accounts_server(self)
        await register(self, server, "alice")
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self,
            *("--password-file", password_file(self, PASSWORD)),
            *target(server, "alice"),
            stdin="hello from a file\n",
        )
        self.assertEqual(await client.exit_code(), 0, client.err)
        self.assertEqual(
            client.out_lines, ["* joined as alice; 2 online: alice, watcher"]
        )
        self.assertEqual(client.err, "")
        self.assertEqual(await watcher.next_line(), "* alice just joined the server")
        self.assertEqual(await watcher.next_line(), "alice: hello from a file")
        self.assertEqual(await watcher.next_line(), "* alice left the chat (quit)")

    async def test_environment(self) -> None:
        """
        With C{CHAT_PASSWORD} set (and no file) the client logs the
        registered name in likewise.
        """
        server = await accounts_server(self)
        await register(self, server, "alice")
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self,
            *target(server, "alice"),
            stdin="hello from the environment\n",
            environ_password=PASSWORD,
        )
        self.assertEqual(await client.exit_code(), 0, client.err)
        self.assertEqual(
            client.out_lines, ["* joined as alice; 2 online: alice, watcher"]
        )
        self.assertEqual(client.err, "")
        self.assertEqual(await watcher.next_line(), "* alice just joined the server")
        self.assertEqual(await watcher.next_line(), "alice: hello from the environment")

    async def test_wrong_password(self) -> None:
        """
        A wrong password in the file is refused: the client shows the
        server's error on stderr, exits 1 and never joins, so nothing it
        was given is sent and the name stays free.
        """
        server = await accounts_server(self)
        await register(self, server, "alice")
        watcher = await log_in(self, tcp_endpoint(server.tcp_port), "watcher")
        client = run_client(
            self,
            *("--password-file", password_file(self, WRONG)),
            *target(server, "alice"),
            stdin="should never be sent\n",
        )
        self.assertEqual(await client.exit_code(), 1)
        self.assertEqual(client.out, "")
        self.assertEqual(
            client.err, "ERROR: wrong password for alice; enter a name again.\n"
        )
        watcher.send_line("/users")
        self.assertEqual(await watcher.next_line(), "* Online (1): watcher")
        self.assertNotIn("should never be sent", server.process.log)

    async def test_password_option_refused(self) -> None:
        """
        C{--password VALUE} is refused before anything is sent, exit status
        2, with the reason and the alternatives, and without echoing the
        value.
        """
        secret = "on-the-command-line"
        client = run_client(self, "--password", secret, "--name", "alice", stdin="")
        self.assertEqual(await client.exit_code(), 2)
        self.assertEqual(client.out, "")
        self.assertIn("there is no --password option", client.err)
        self.assertIn("--password-file FILE or CHAT_PASSWORD", client.err)
        self.assertNotIn(secret, client.err)


class OfflineMessageTests(TestCase):
    """
    Private messages stored for a registered user while it was away.
    """

    timeout = 60

    async def test_stored_message_shown_then_acknowledged(self) -> None:
        """
        A guest's C{bob*hello} to the offline registered bob is stored; bob's
        client, logging in with C{--password-file}, prints it marked as
        stored with the time it was sent, then the count.  The client speaks
        JSON (always), so it acknowledges it with C{/ack}: the next login
        gets nothing, where an unacknowledged message would come again.
        """
        server = await accounts_server(self)
        await register(self, server, "bob")
        alice = await log_in(self, tcp_endpoint(server.tcp_port), "alice")
        alice.send_line("bob*hello bob, a*b")
        self.assertEqual(
            await alice.next_line(),
            "* bob is offline; your message is stored and will be delivered "
            "when they next log in.",
        )
        secret = password_file(self, PASSWORD)

        first = run_client(
            self, "--password-file", secret, *target(server, "bob"), stdin=""
        )
        self.assertEqual(await first.exit_code(), 0, first.err)
        joined, stored, count = first.out_lines
        self.assertEqual(joined, "* joined as bob; 2 online: alice, bob")
        self.assertRegex(stored, STORED.format(sender="alice", text=r"hello bob, a\*b"))
        self.assertEqual(count, "* 1 message was waiting for you")
        self.assertEqual(first.err, "")
        self.assertEqual(await alice.next_line(), "* bob just joined the server")
        self.assertEqual(await alice.next_line(), "* bob left the chat (quit)")

        second = run_client(
            self, "--password-file", secret, *target(server, "bob"), stdin=""
        )
        self.assertEqual(await second.exit_code(), 0, second.err)
        self.assertEqual(second.out_lines, ["* joined as bob; 2 online: alice, bob"])
        self.assertEqual(second.err, "")
        self.assertEqual(await alice.next_line(), "* bob just joined the server")
        self.assertEqual(await alice.next_line(), "* bob left the chat (quit)")
        await barrier(self, alice)

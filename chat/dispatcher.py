# -*- test-case-name: tests.test_dispatcher -*-
"""
Route lines of input from clients: name requests, C{*} routing and slash
commands.

Pure and synchronous: it raises L{ChatError}s and hands L{Event}s to
L{IChatClient}s; front ends own the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chat.commands import Say, Slash, Whisper, parse
from chat.errors import BadUsage, NotJoined, UnknownCommand
from chat.events import (
    Action,
    CommandHelp,
    Event,
    Goodbye,
    Help,
    Joined,
    Left,
    Message,
    Private,
    Prompt,
    UserList,
    Welcome,
)
from chat.logs import LogLimiter
from chat.registry import IChatClient, UserRegistry

# Module level: a Logger class attribute builds a new Logger on every access.
_log: Final = Logger(namespace="chat.dispatcher.Dispatcher")
_Handler = Callable[[IChatClient, str], None]
# Deliver one event to many clients, skipping one (the sender).
FanOut = Callable[[Event, Iterable[IChatClient], IChatClient], None]


def deliver_each(
    event: Event, clients: Iterable[IChatClient], sender: IChatClient
) -> None:
    """
    The plain fan-out: L{IChatClient.deliver} to every client but C{sender}.
    """
    for client in clients:
        if client is not sender:
            client.deliver(event)


# Names listed in the welcome line; /users lists everyone.
WELCOME_LIST_LIMIT: Final = 50

COMMANDS: Final = (
    CommandHelp("/help", "list the commands"),
    CommandHelp("/users", "list who is online", ("/who",)),
    CommandHelp("/dm NAME TEXT", "send TEXT to NAME only", ("/msg", "NAME*TEXT")),
    CommandHelp("/bm TEXT", "send TEXT to everyone", ("ALL*TEXT", "a plain line")),
    CommandHelp("/me ACTION", "tell everyone what you are doing"),
    CommandHelp("/mode json|text", "switch this connection's output format"),
    CommandHelp("/quit [REASON]", "say goodbye and disconnect", ("/exit",)),
)

# Commands that make sense before a name is chosen.
_BEFORE_JOIN: Final = frozenset({"help", "quit", "exit", "mode"})


class Dispatcher:
    """
    Act on one line of input from one client.

    Slash commands are looked up by name: C{/users} calls L{command_users};
    user input can reach no other method.

    @ivar announce_limit: join and leave notices go to everyone only while at
        most this many users are online, so that a login costs O(1), not
        O(users), on a big server.

    A front end may pass its own C{fan_out} for broadcasts: the line
    protocol writes shared bytes straight to its transports, and a future
    multi-node store could publish instead.
    """

    def __init__(
        self,
        registry: UserRegistry,
        clock: IReactorTime,
        *,
        announce_limit: int = 200,
        log_limiter: LogLimiter | None = None,
        fan_out: FanOut = deliver_each,
    ) -> None:
        self.registry = registry
        self._clock = clock
        self.announce_limit = announce_limit
        self.log_limiter = log_limiter or LogLimiter(clock, per_second=0)
        self._fan_out = fan_out

    # Entry points for front ends.

    def dispatch(self, client: IChatClient, line: str) -> None:
        """
        Act on C{line} from C{client}.

        @raise chat.errors.ChatError: if the line is refused; nothing else
            happened.
        """
        if not line or line.isspace():
            return
        command = parse(line)
        if isinstance(command, Slash):
            handler = self._handler_for(command.name)
            if client.name is None and command.name not in _BEFORE_JOIN:
                raise NotJoined(f"please enter your name before using /{command.name}.")
            handler(client, command.args)
            return
        sender = client.name
        if sender is None:
            self.join(client, line)
        elif isinstance(command, Whisper):
            self._whisper(client, sender, command.target, command.text)
        elif isinstance(command, Say):
            self._say(client, sender, command.text)

    def join(self, client: IChatClient, name: str) -> None:
        """
        Accept C{client} under C{name}, welcome it and tell the others.

        @raise chat.errors.ChatError: if the name is refused.
        """
        registry = self.registry
        registry.add(name, client)
        self.log_limiter.info(_log, "{name} just joined the chat", name=name)
        now = self._clock.seconds()
        count = len(registry)
        shown = registry.names() if count <= WELCOME_LIST_LIMIT else []
        client.deliver(Welcome(now, name, tuple(shown), count))
        if count <= self.announce_limit:
            self._broadcast(client, Joined(now, name))

    def leave(self, client: IChatClient, reason: str | None = None) -> None:
        """
        C{client} is gone: free its name and tell the others.
        """
        if not self.registry.remove(client):
            return
        self.log_limiter.info(
            _log,
            "{name} left the chat ({reason})",
            name=client.name,
            reason=reason,
        )
        if len(self.registry) < self.announce_limit:
            self._broadcast(
                client, Left(self._clock.seconds(), str(client.name), reason)
            )

    # Routing.

    def _broadcast(self, sender: IChatClient, event: Event) -> None:
        # A copy: a delivery may end a connection, which leaves the registry.
        self._fan_out(event, tuple(self.registry.clients()), sender)

    def _say(self, client: IChatClient, sender: str, text: str) -> None:
        self._broadcast(client, Message(self._clock.seconds(), sender, text))

    def _whisper(
        self, client: IChatClient, sender: str, target: str, text: str
    ) -> None:
        if not text:
            raise BadUsage("empty message; usage: NAME*TEXT or /dm NAME TEXT")
        recipient = self.registry.lookup(target)
        recipient.deliver(
            Private(self._clock.seconds(), sender, str(recipient.name), text)
        )

    # Slash commands.

    def _handler_for(self, name: str) -> _Handler:
        handler: _Handler | None = getattr(self, f"command_{name}", None)
        if handler is None or not name.isalpha():
            raise UnknownCommand(
                f"unknown command /{name}; type /help for the list of commands."
            )
        return handler

    def command_help(self, client: IChatClient, args: str) -> None:
        """
        C{/help}: list every command.
        """
        client.deliver(Help(self._clock.seconds(), COMMANDS))

    def command_users(self, client: IChatClient, args: str) -> None:
        """
        C{/users}: list who is online, to the asker only.
        """
        client.deliver(UserList(self._clock.seconds(), tuple(self.registry.names())))

    command_who = command_users

    def command_dm(self, client: IChatClient, args: str) -> None:
        """
        C{/dm NAME TEXT}: a private message.
        """
        target, _, text = args.lstrip().partition(" ")
        if not target or not text.strip():
            raise BadUsage("usage: /dm NAME TEXT")
        self._whisper(client, str(client.name), target, text)

    command_msg = command_dm

    def command_bm(self, client: IChatClient, args: str) -> None:
        """
        C{/bm TEXT}: a message to everyone.
        """
        if not args.strip():
            raise BadUsage("usage: /bm TEXT")
        self._say(client, str(client.name), args)

    def command_me(self, client: IChatClient, args: str) -> None:
        """
        C{/me ACTION}: an action, shown to everyone.
        """
        if not args.strip():
            raise BadUsage("usage: /me ACTION")
        self._broadcast(client, Action(self._clock.seconds(), str(client.name), args))

    def command_mode(self, client: IChatClient, args: str) -> None:
        """
        C{/mode json|text}: switch the connection's output format.
        """
        mode = args.strip().lower()
        if not mode:
            raise BadUsage("usage: /mode json|text")
        client.set_mode(mode)
        if client.name is None:
            client.deliver(Prompt(self._clock.seconds(), "name"))

    def command_quit(self, client: IChatClient, args: str) -> None:
        """
        C{/quit [REASON]}: say goodbye and close the connection.
        """
        reason = args.strip() or None
        client.deliver(Goodbye(self._clock.seconds(), reason))
        self.leave(client, reason or "quit")
        client.disconnect()

    command_exit = command_quit

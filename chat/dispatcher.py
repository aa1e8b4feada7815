# -*- test-case-name: tests.test_dispatcher -*-
"""
Route lines of input from clients: name requests, C{*} routing and slash
commands.

Pure and synchronous: it raises L{ChatError}s and hands L{Event}s to
L{IChatClient}s; front ends own the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.commands import RoomSay, Slash, Whisper, check_room, fold, parse
from chat.errors import (
    BadUsage,
    ChatError,
    NoSuchAccount,
    NoSuchUser,
    NotJoined,
    StoreFailed,
    Throttled,
    UnknownCommand,
    WrongPassword,
)
from chat.events import (
    AccountChanged,
    Action,
    CommandHelp,
    Error,
    Event,
    Goodbye,
    Help,
    Joined,
    Left,
    Message,
    Private,
    Prompt,
    Queued,
    Stored,
    StoredEnd,
    UserList,
    Welcome,
    replayed,
)
from chat.logs import LogLimiter
from chat.passwords import PasswordHasher
from chat.registry import IChatClient, UserRegistry
from chat.room_commands import RoomCommands
from chat.rooms import Room
from chat.store import Account, HistoryEntry, IChatStore, MemoryStore, StoredMessage
from chat.throttle import Throttle
from chat.transfers import IO, Transfers, inline_io

# Module level: a Logger class attribute builds a new Logger on every access.
_log: Final = Logger(namespace="chat.dispatcher.Dispatcher")
_T = TypeVar("_T")
_Handler = Callable[[IChatClient, str], "Deferred[None] | None"]
# Deliver one event to many clients, skipping the sender (None: nobody).
FanOut = Callable[[Event, Iterable[IChatClient], IChatClient | None], None]


def deliver_each(
    event: Event, clients: Iterable[IChatClient], sender: IChatClient | None
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
    CommandHelp("/history [N]", "show the last N messages (default 20)"),
    CommandHelp("/join #ROOM", "join a room, creating it if needed"),
    CommandHelp("/leave #ROOM [REASON]", "leave a room", ("/part",)),
    CommandHelp("/say #ROOM TEXT", "send TEXT to a room", ("#ROOM*TEXT",)),
    CommandHelp("/rooms", "list the rooms"),
    CommandHelp("/who #ROOM", "list a room's members"),
    CommandHelp("/history #ROOM [N]", "show a room's last N messages"),
    CommandHelp("/topic #ROOM [TEXT]", "show or set a room's topic"),
    CommandHelp("/mode #ROOM +i|-i", "make a room invite-only, or open (owner)"),
    CommandHelp("/invite NAME #ROOM", "invite NAME to a room (operators)"),
    CommandHelp("/kick NAME #ROOM [REASON]", "put NAME out of a room (operators)"),
    CommandHelp("/op NAME #ROOM", "make NAME an operator (owner)", ("/deop",)),
    CommandHelp("/register PASSWORD", "reserve your name with a password"),
    CommandHelp("/password OLD NEW", "change your name's password"),
    CommandHelp("/unregister PASSWORD", "give your name up"),
    CommandHelp("/ack ID...", "confirm stored messages (JSON clients)"),
    CommandHelp("/file list|decline ID|...", "files (chat-client sends them)"),
    CommandHelp("/mode json|text", "switch this connection's output format"),
    CommandHelp("/quit [REASON]", "say goodbye and disconnect", ("/exit",)),
)

# Commands carried out by RoomCommands.
_ROOM_COMMANDS: Final = frozenset(
    {"say", "join", "leave", "part", "rooms", "topic", "invite", "kick", "op", "deop"}
)

# Commands that make sense before a name is chosen.
_BEFORE_JOIN: Final = frozenset({"help", "quit", "exit", "mode"})


@dataclass(frozen=True, slots=True)
class Limits:
    """
    The documented limits of accounts, offline messages and history.
    """

    offline_count: int = 100
    offline_age: float = 30 * 24 * 3600.0
    history_on_join: int = 10
    history_default: int = 20
    history_max: int = 200
    password_min: int = 6
    password_max: int = 256
    tries_per_name: int = 5
    tries_per_address: int = 20
    tries_window: float = 60.0
    # Text-mode stored messages count as delivered after this long open.
    confirm_after: float = 10.0
    file_max_size: int = 100 * 1024 * 1024
    file_quota: int = 1024 * 1024 * 1024
    file_age: float = 7 * 24 * 3600.0


def _ids(args: str) -> list[int]:
    try:
        ids = [int(word) for word in args.split()]
    except ValueError:
        ids = []
    if not ids or min(ids) < 1:
        raise BadUsage("usage: /ack ID [ID ...] (the ids of stored messages)")
    return ids


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
        store: IChatStore | None = None,
        hasher: PasswordHasher | None = None,
        limits: Limits | None = None,
        keep_history: bool = True,
        room_announce_limit: int = 200,
        spool: str = "chat-spool",
        file_io: IO = inline_io,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.announce_limit = announce_limit
        self.log_limiter = log_limiter or LogLimiter(clock, per_second=0)
        self.fan_out = fan_out
        self.store: IChatStore = store if store is not None else MemoryStore()
        self.hasher = hasher if hasher is not None else PasswordHasher()
        self.limits = limits = limits or Limits()
        self.keep_history = keep_history
        # Registered names (folded -> as registered): routing decisions on
        # the hot path must not wait for the store.
        self.accounts: dict[str, str] = {}
        self._name_tries = Throttle(clock, limits.tries_per_name, limits.tries_window)
        self._address_tries = Throttle(
            clock, limits.tries_per_address, limits.tries_window
        )
        # Clients at the password prompt, and the name they asked for.
        self._pending: dict[IChatClient, str] = {}
        # Clients between a right password and being online.
        self._logging_in: set[IChatClient] = set()
        # Text-mode clients' stored messages not yet counted as delivered.
        self._unconfirmed: dict[IChatClient, tuple[list[int], IDelayedCall]] = {}
        self.rooms = RoomCommands(self, announce_limit=room_announce_limit)
        self.transfers = Transfers(self, spool, file_io)

    def load_accounts(self) -> Deferred[None]:
        """
        Read the registered names from the store; call before serving.
        """

        def loaded(accounts: dict[str, str]) -> None:
            self.accounts = accounts

        return self.store.account_names().addCallback(loaded)

    def load(self) -> Deferred[None]:
        """
        Read the registered names, then the rooms; call before serving.
        """
        return self.load_accounts().addCallback(lambda _: self.rooms.load())

    def expire_stored(self) -> Deferred[None]:
        """
        Delete stored messages past C{limits.offline_age}; run now and then,
        since a recipient who never logs in again would keep them forever.
        A failure is logged and the next run tries again.
        """

        def done(count: int) -> None:
            if count:
                _log.info("{count} expired stored messages deleted", count=count)

        expired = self.store.expire(self.clock.seconds(), self.limits.offline_age)
        d = expired.addCallback(done)
        d.addErrback(lambda f: _log.failure("deleting expired messages failed", f))
        d.addCallback(lambda _: self.transfers.expire())
        d.addErrback(lambda f: _log.failure("deleting expired files failed", f))
        return d

    def stopping(self) -> Deferred[None]:
        """
        The service stops and the store closes next, before the remaining
        connections drop: record what must outlive them now (what online
        members have seen) and let their later departures write nothing;
        what guests leave behind is cleared at the next start.
        """
        self.transfers.stopping()
        return self.rooms.stopping()

    # Entry points for front ends.

    def dispatch(self, client: IChatClient, line: str) -> Deferred[None] | None:
        """
        Act on C{line} from C{client}.

        @return: L{None} if done, or a L{Deferred} that fires when done; a
            front end acts on the client's next line only after that.  It
            fails with a L{ChatError} if the request was refused.
        @raise chat.errors.ChatError: if the line is refused; nothing else
            happened.
        """
        if self._pending and client in self._pending:
            if line.partition(" ")[0].lower() not in ("/quit", "/exit"):
                return self._check_password(client, self._pending.pop(client), line)
            del self._pending[client]
        if not line or line.isspace():
            return None
        if self._unconfirmed and client in self._unconfirmed:
            # It is reading and writing: what it was sent arrived.
            self._confirm(client)
        command = parse(line)
        if isinstance(command, Slash):
            handler = self._handler_for(command.name)
            if client.name is None and command.name not in _BEFORE_JOIN:
                raise NotJoined(f"please enter your name before using /{command.name}.")
            return handler(client, command.args)
        sender = client.name
        if sender is None:
            return self.join(client, line)
        if isinstance(command, Whisper):
            return self._whisper(client, sender, command.target, command.text)
        if isinstance(command, RoomSay):
            self.rooms.say(client, sender, command.room, command.text)
            return None
        self._say(client, sender, command.text)
        return None

    def join(self, client: IChatClient, name: str) -> Deferred[None] | None:
        """
        Accept C{client} under C{name}, or ask for the name's password if it
        is registered.

        @raise chat.errors.ChatError: if the name is refused.
        """
        key = self.registry.check(name)
        registered = self.accounts.get(key)
        if registered is None:
            return self._admit(client, name, None)
        self._check_tries(key, client)
        self._pending[client] = registered
        client.deliver(
            Prompt(
                self.clock.seconds(),
                "password",
                name=registered,
                insecure=not client.secure,
            )
        )
        return None

    def _check_tries(self, key: str, client: IChatClient) -> None:
        wait = max(self._name_tries.wait(key), self._address_tries.wait(client.peer))
        if wait:
            raise Throttled(
                f"too many wrong passwords; try again in {int(wait) + 1} seconds."
            )

    def _check_password(
        self, client: IChatClient, name: str, password: str
    ) -> Deferred[None]:
        self._logging_in.add(client)
        return Deferred.fromCoroutine(self._log_in(client, name, password))

    async def _log_in(self, client: IChatClient, name: str, password: str) -> None:
        key = fold(name)
        try:
            account = await self._verify(
                client, key, password, f"wrong password for {name}; enter a name again."
            )
            if client not in self._logging_in:
                return
            self._logging_in.discard(client)
            if account is None:  # unregistered meanwhile: a guest name now
                await self._admitted(client, name, None)
                return
            self._name_tries.succeeded(key)
            if self.hasher.needs_rehash(account.password_hash):
                self._rehash(key, password)
            await self._admitted(client, account.name, key)
        except ChatError as e:
            if client in self._logging_in:
                self._logging_in.discard(client)
                self.log_limiter.info(
                    _log,
                    "refused a login as {name} from {peer}: {reason}",
                    name=name,
                    peer=client.peer,
                    reason=str(e),
                )
                # Back to the start: the next line is a name again.
                now = self.clock.seconds()
                client.deliver(Error.refusing(now, e))
                client.deliver(Prompt(now, "name"))

    async def _admitted(self, client: IChatClient, name: str, key: str | None) -> None:
        wait = self._admit(client, name, key)
        if wait is not None:
            await wait

    def _rehash(self, key: str, password: str) -> None:
        d = self.hasher.hash(password)
        d.addCallback(lambda new: self.store.set_password_hash(key, new))
        d.addErrback(lambda f: _log.failure("rehashing a password failed", f))

    def _admit(
        self, client: IChatClient, name: str, key: str | None
    ) -> Deferred[None] | None:
        """
        Put C{client} online as C{name} (registered under C{key}, or a
        guest), then hand it what it missed before any live traffic.
        """
        registry = self.registry
        registry.add(name, client)
        self.log_limiter.info(_log, "{name} just joined the chat", name=name)
        now = self.clock.seconds()
        count = len(registry)
        shown = registry.names() if count <= WELCOME_LIST_LIMIT else []
        welcome = Welcome(now, name, tuple(shown), count)
        if count <= self.announce_limit:
            self._broadcast(client, Joined(now, name))
        replay = self.limits.history_on_join if self.keep_history else 0
        if key is None and not replay:
            client.deliver(welcome)
            return None
        client.hold()
        rooms = self.rooms.logged_in(client, key) if key is not None else []
        history = self.store.history("", replay) if replay else None
        if key is None and history is not None:
            ready = _result_now(history)
            if ready and not isinstance(ready[0], Failure):
                # A guest, and the store had the history at hand (as it
                # does for the usual few lines): no turn to wait for.
                client.release([welcome, *self._replay(ready[0])])
                return None
        return Deferred.fromCoroutine(
            self._catch_up(client, welcome, key, history, rooms)
        )

    def _replay(self, entries: list[HistoryEntry]) -> list[Event]:
        return replayed(entries, self.clock.seconds()) if entries else []

    async def _catch_up(
        self,
        client: IChatClient,
        welcome: Welcome,
        key: str | None,
        history: Deferred[list[HistoryEntry]] | None,
        rooms: list[Room],
    ) -> None:
        events: list[Event] = [welcome]
        ids: list[int] = []
        try:
            if history is not None:
                events += self._replay(await history)
            if key is not None:
                messages = await self.store.pending(
                    key, self.clock.seconds(), self.limits.offline_age
                )
                events += [_stored(message, welcome.name) for message in messages]
                events.append(StoredEnd(self.clock.seconds(), len(messages)))
                ids = [message.id for message in messages]
                events += await self.rooms.missed(key, rooms, welcome.time)
                events += await self.transfers.offers_for(key)
        except Exception:
            _log.failure("catching {name} up failed", name=welcome.name)
            events.append(
                Error.refusing(
                    self.clock.seconds(),
                    StoreFailed(
                        "history and stored messages could not be read; stored "
                        "messages are kept for your next login."
                    ),
                )
            )
        client.release(events)
        if ids and not client.acknowledges and client in self.registry:
            self._expect_confirmation(client, ids)

    def _expect_confirmation(self, client: IChatClient, ids: list[int]) -> None:
        call = self.clock.callLater(self.limits.confirm_after, self._confirm, client)
        self._unconfirmed[client] = (ids, call)

    def _confirm(self, client: IChatClient) -> None:
        entry = self._unconfirmed.pop(client, None)
        if entry is None or client.name is None:
            return
        ids, call = entry
        if call.active():
            call.cancel()
        d = self.store.ack(fold(client.name), ids)
        d.addErrback(lambda f: _log.failure("acknowledging stored messages failed", f))

    def leave(
        self, client: IChatClient, reason: str | None = None, clean: bool = True
    ) -> None:
        """
        C{client} is gone: free its name and tell the others.

        @param clean: the connection closed cleanly, so what was written to
            it counts as delivered.
        """
        self._pending.pop(client, None)
        self._logging_in.discard(client)
        if client in self._unconfirmed:
            if clean:
                self._confirm(client)
            else:
                _, call = self._unconfirmed.pop(client)
                call.cancel()
        if not self.registry.remove(client):
            return
        self.rooms.gone(client, reason)
        self.transfers.gone(client)
        self.log_limiter.info(
            _log,
            "{name} left the chat ({reason})",
            name=client.name,
            reason=reason,
        )
        if len(self.registry) < self.announce_limit:
            self._broadcast(
                client, Left(self.clock.seconds(), str(client.name), reason)
            )

    # Routing.

    def _broadcast(self, sender: IChatClient, event: Event) -> None:
        self.fan_out(event, self.registry.snapshot(), sender)

    def _say(self, client: IChatClient, sender: str, text: str) -> None:
        now = self.clock.seconds()
        self._broadcast(client, Message(now, sender, text))
        if self.keep_history:
            self.store.add_history("", sender, text, now)

    def _whisper(
        self, client: IChatClient, sender: str, target: str, text: str
    ) -> Deferred[None] | None:
        if not text:
            raise BadUsage("empty message; usage: NAME*TEXT or /dm NAME TEXT")
        try:
            recipient = self.registry.lookup(target)
        except NoSuchUser:
            key = fold(target)
            registered = self.accounts.get(key)
            if registered is None:
                raise
            return self._keep(client, key, registered, sender, text)
        recipient.deliver(
            Private(self.clock.seconds(), sender, str(recipient.name), text)
        )
        return None

    def _keep(
        self, client: IChatClient, key: str, recipient: str, sender: str, text: str
    ) -> Deferred[None]:
        """
        Store a private message for an offline registered user; the sender
        is told only once it is safely on disk.
        """
        limits = self.limits
        d = self.store.enqueue(
            key,
            sender,
            text,
            self.clock.seconds(),
            max_count=limits.offline_count,
            max_age=limits.offline_age,
        )

        def stored(message: StoredMessage) -> None:
            client.deliver(Queued(self.clock.seconds(), recipient, message.id))

        return d.addCallback(stored)

    # Slash commands.

    def _handler_for(self, name: str) -> _Handler:
        handler: _Handler | None
        if not name.isalpha():
            handler = None
        elif name in _ROOM_COMMANDS:
            handler = getattr(self.rooms, f"command_{name}")
        else:
            handler = getattr(self, f"command_{name}", None)
        if handler is None:
            raise UnknownCommand(
                f"unknown command /{name}; type /help for the list of commands."
            )
        return handler

    def command_help(self, client: IChatClient, args: str) -> None:
        """
        C{/help}: list every command.
        """
        client.deliver(Help(self.clock.seconds(), COMMANDS))

    def command_users(self, client: IChatClient, args: str) -> None:
        """
        C{/users}: list who is online, to the asker only.
        """
        client.deliver(UserList(self.clock.seconds(), tuple(self.registry.names())))

    def command_who(self, client: IChatClient, args: str) -> None:
        """
        C{/who}: like C{/users}; C{/who #room}: the room's members.
        """
        if args.strip():
            self.rooms.command_who(client, args)
        else:
            self.command_users(client, args)

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
        now = self.clock.seconds()
        sender = str(client.name)
        self._broadcast(client, Action(now, sender, args))
        if self.keep_history:
            self.store.add_history("", sender, args, now, "action")

    def command_history(self, client: IChatClient, args: str) -> Deferred[None]:
        """
        C{/history [N]}: the last N broadcasts, oldest first.
        """
        limits = self.limits
        room, _, word = args.strip().rpartition(" ")
        if not room and word.startswith("#"):
            room, word = word, ""
        word = word.strip()
        if not word:
            count = limits.history_default
        elif word.isdigit() and 1 <= int(word) <= limits.history_max:
            count = int(word)
        else:
            raise BadUsage(
                f"usage: /history [#ROOM] [N], N from 1 to {limits.history_max}"
            )
        if room:
            return self.rooms.history(client, check_room(room.strip()), count)

        def show(entries: list[HistoryEntry]) -> None:
            for event in replayed(entries, self.clock.seconds()):
                client.deliver(event)

        if not self.keep_history:
            return succeed([]).addCallback(show)
        return self.store.history("", count).addCallback(show)

    def command_file(self, client: IChatClient, args: str) -> Deferred[None] | None:
        """
        C{/file ...}: file transfer (C{docs/protocol.rst}, File transfer).
        """
        return self.transfers.command(client, args)

    def command_ack(self, client: IChatClient, args: str) -> Deferred[None]:
        """
        C{/ack ID...}: the client has the stored messages with these ids.
        """
        ids = _ids(args)
        return self.store.ack(fold(str(client.name)), ids).addCallback(lambda _: None)

    # Accounts.

    def _check_new_password(self, password: str) -> None:
        limits = self.limits
        if not limits.password_min <= len(password) <= limits.password_max:
            raise BadUsage(
                f"a password is {limits.password_min} to {limits.password_max} "
                "characters without spaces."
            )

    def _account_of(self, client: IChatClient) -> tuple[str, str]:
        name = str(client.name)
        key = fold(name)
        if key not in self.accounts:
            raise NoSuchAccount(name)
        return name, key

    async def _verify(
        self, client: IChatClient, key: str, password: str, wrong: str
    ) -> Account | None:
        """
        C{key}'s account if C{password} is its password; L{None} if the name
        is not registered (any more).  Wrong passwords count against the
        name and the client's address.

        @raise WrongPassword: with the message C{wrong}.
        @raise Throttled: if too many wrong passwords came before.
        """
        self._check_tries(key, client)
        account = await self.store.get_account(key)
        if account is None:
            self.accounts.pop(key, None)
            return None
        if not await self.hasher.verify(account.password_hash, password):
            self._name_tries.failed(key)
            self._address_tries.failed(client.peer)
            raise WrongPassword(wrong)
        return account

    async def _verify_own(self, client: IChatClient, key: str, password: str) -> None:
        """
        L{_verify} for an account command: the asker's own name.
        """
        wrong = "wrong password; nothing was changed."
        if await self._verify(client, key, password, wrong) is None:
            raise NoSuchAccount(str(client.name))

    def command_register(self, client: IChatClient, args: str) -> Deferred[None]:
        """
        C{/register PASSWORD}: reserve the asker's name.
        """
        words = args.split()
        if len(words) != 1:
            raise BadUsage("usage: /register PASSWORD (one word, no spaces)")
        self._check_new_password(words[0])
        name = str(client.name)
        key = fold(name)
        if key in self.accounts:
            raise BadUsage(
                f"{name} is already registered; /password OLD NEW changes it."
            )
        return Deferred.fromCoroutine(self._register(client, name, key, words[0]))

    async def _register(
        self, client: IChatClient, name: str, key: str, password: str
    ) -> None:
        hashed = await self.hasher.hash(password)
        await self.store.create_account(key, name, hashed, self.clock.seconds())
        self.accounts[key] = name
        client.deliver(
            AccountChanged(
                self.clock.seconds(), "registered", name, insecure=not client.secure
            )
        )

    def command_password(self, client: IChatClient, args: str) -> Deferred[None]:
        """
        C{/password OLD NEW}: change the asker's password.
        """
        words = args.split()
        if len(words) != 2:
            raise BadUsage("usage: /password OLD NEW")
        name, key = self._account_of(client)
        self._check_new_password(words[1])
        return Deferred.fromCoroutine(self._change(client, name, key, *words))

    async def _change(
        self, client: IChatClient, name: str, key: str, old: str, new: str
    ) -> None:
        await self._verify_own(client, key, old)
        await self.store.set_password_hash(key, await self.hasher.hash(new))
        client.deliver(
            AccountChanged(
                self.clock.seconds(),
                "password-changed",
                name,
                insecure=not client.secure,
            )
        )

    def command_unregister(self, client: IChatClient, args: str) -> Deferred[None]:
        """
        C{/unregister PASSWORD}: give the asker's name up.
        """
        words = args.split()
        if len(words) != 1:
            raise BadUsage("usage: /unregister PASSWORD")
        name, key = self._account_of(client)
        return Deferred.fromCoroutine(self._unregister(client, name, key, words[0]))

    async def _unregister(
        self, client: IChatClient, name: str, key: str, password: str
    ) -> None:
        await self._verify_own(client, key, password)
        await self.store.delete_account(key)
        self.accounts.pop(key, None)
        self.rooms.unregistered(client, key)
        client.deliver(
            AccountChanged(
                self.clock.seconds(), "unregistered", name, insecure=not client.secure
            )
        )

    def command_mode(self, client: IChatClient, args: str) -> None:
        """
        C{/mode json|text}: switch the connection's output format.
        """
        if args.lstrip().startswith("#") and client.name is not None:
            self.rooms.command_mode(client, args)
            return
        mode = args.strip().lower()
        if not mode:
            raise BadUsage("usage: /mode json|text")
        client.set_mode(mode)
        if client.name is None:
            client.deliver(Prompt(self.clock.seconds(), "name"))

    def command_quit(self, client: IChatClient, args: str) -> None:
        """
        C{/quit [REASON]}: say goodbye and close the connection.
        """
        reason = args.strip() or None
        client.deliver(Goodbye(self.clock.seconds(), reason))
        self.leave(client, reason or "quit")
        client.disconnect()

    command_exit = command_quit


def _result_now(d: Deferred[_T]) -> list[_T | Failure]:
    """
    C{[result]} if C{d} has fired already, else C{[]}; C{d} keeps its
    result either way, for whoever waits on it next.
    """
    box: list[_T | Failure] = []

    def keep(result: _T | Failure) -> _T | Failure:
        box.append(result)
        return result

    d.addBoth(keep)
    return box


def _stored(message: StoredMessage, recipient: str) -> Stored:
    return Stored(
        message.time,
        message.sender,
        recipient,
        message.text,
        message.id,
        message.kind == "action",
    )

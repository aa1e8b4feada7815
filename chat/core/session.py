# -*- test-case-name: tests.core.test_session -*-
"""
The typed session API that every door calls: one L{Session} per client
connection.

A door parses its own syntax (text lines, JSON, IRC commands) into calls
of these methods, and renders the events the core sends back through its
L{IConnection}.  What every door's users rely on is done here, once:

  - a request is carried out only after the session's earlier ones, even
    when one of them waits (for the store, a password check): the session
    tells the door to pause its input meanwhile, and keeps any request it
    is given in the meantime;
  - at most L{Limits.requests_per_turn} requests a turn: the rest wait for
    the next turn, with the input paused, so that one client's burst
    cannot pile up output for everyone faster than it can be written;
  - a client that sends faster than its flood limit is held to it
    (L{chat.core.flood}): the request waits for a token with the input
    paused, and one that keeps it up too long is dropped;
  - a refused request (a L{ChatError}) becomes an L{Error} event for its
    client and a line in the log (rate-limited); nothing else happens;
  - requests that need a name are refused until the client has one.

The methods never raise L{ChatError}s and return nothing: their outcome is
events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.core.accounts import Accounts
from chat.core.admission import Admission
from chat.core.client import CLOSED, ONLINE, Client, IConnection
from chat.core.delivery import Delivery
from chat.core.flood import TOKEN_BYTES, Bucket, FloodLimits
from chat.core.limits import Limits
from chat.core.logins import Logins
from chat.core.logs import LogLimiter
from chat.core.messages import Messages
from chat.core.rooms import Rooms
from chat.core.transfers import Transfers
from chat.errors import (
    BadUsage,
    ChatError,
    ExcessFlood,
    NotJoined,
    SendQueueExceeded,
)
from chat.events import Error, Event

_log: Final = Logger(namespace="chat.core.session")

_Handler = Callable[..., "Deferred[None] | None"]
# A request waiting for its turn: the handler, its arguments, and whether
# it needs the client to be online.
_Request = tuple[_Handler, tuple[Any, ...], bool]

# The tokens of a client with no flood limit (C{--exempt}): never spent.
_UNLIMITED: Final = 2**62
# Characters below which a message is surely within one token's bytes
# (four bytes a character at most): only longer ones are measured.
_SHORT: Final = TOKEN_BYTES // 4


@dataclass(frozen=True, slots=True)
class Services:
    """
    The parts of the core a session's requests are carried out by; one
    for all sessions, made by L{chat.core.core.ChatCore}.
    """

    clock: IReactorTime
    delivery: Delivery
    logins: Logins
    accounts: Accounts
    messages: Messages
    rooms: Rooms
    transfers: Transfers
    limits: Limits
    log_limiter: LogLimiter
    #: L{Limits.requests_per_turn}, read on every request.
    requests_per_turn: int
    # Flood control and slow consumers (issue 15).
    security_log: LogLimiter
    flood: FloodLimits
    #: Counts the open connections (issue 15, "conns").
    admission: Admission


def _raise(error: ChatError) -> None:
    raise error


def _nothing() -> None:
    pass


class Session(Client):
    """
    One client's requests, carried out in order.
    """

    __slots__ = (
        "_bucket",
        "_count",
        "_credit",
        "_draining",
        "_flood_call",
        "_queue",
        "_services",
        "_turn",
        "_turn_over",
        "_waiting",
    )

    def __init__(
        self,
        services: Services,
        connection: IConnection,
        peer: str,
        *,
        secure: bool = False,
        acknowledges: bool = False,
        exempt: bool = False,
    ) -> None:
        super().__init__(
            connection, peer, secure=secure, acknowledges=acknowledges, exempt=exempt
        )
        self._services = services
        # Requests that came while one waits or after this turn's share;
        # not None exactly while the door's input is paused.
        self._queue: deque[_Request] | None = None
        self._waiting = False
        self._turn_over = False
        self._draining = False
        self._turn = -1
        self._count = 0
        # Flood control: the tokens taken from the bucket and not spent yet
        # (an integer count on the hot path; the bucket is looked at when
        # they run out), and the call that ends a wait for a token.
        self._flood_call: IDelayedCall | None = None
        self._bucket = Bucket(services.flood.guest, services.clock.seconds())
        self._credit = _UNLIMITED if exempt else 0

    # Logging in and out.

    def choose_name(self, name: str) -> None:
        """
        Ask for C{name}: the client is let in under it, or asked for its
        password if it is registered (a L{chat.events.Prompt}).
        """
        self._run(self._services.logins.choose_name, (self, name), False)

    def log_in(self, password: str) -> None:
        """
        The password of the registered name asked for.
        """
        self._run(self._services.logins.log_in, (self, password), False)

    def ask_again(self) -> None:
        """
        Send the prompt for what the client is asked now, a name or the
        password of the name it asked for (after the door switched its
        format or showed help at a prompt).
        """
        self._run(self._services.logins.ask_again, (self,), False)

    # Resume (issue 16).

    def resume_after(self, since: int) -> None:
        """
        Before the name: the client has the main channel's history up to
        id C{since}, so the login's replay shows only what came after.
        """
        self._run(self._services.logins.resume_after, (self, since), False)

    def discard_input(self) -> bool:
        """
        Drop the requests that wait for their turn, and what the door
        holds unread: a step of the login was refused
        (L{IConnection.discard_input}).
        """
        queue = self._queue
        dropped = bool(queue)
        if queue:
            # In place: L{_drain} may be looping over it.
            queue.clear()
        return self.connection.discard_input() or dropped

    def quit(self, reason: str | None = None) -> None:
        """
        Say goodbye: the client is told, leaves, and its connection closes.
        """
        self._run(self._services.logins.quit, (self, self._reason(reason)), False)

    def closed(self, reason: str = "connection closed", *, delivered: bool) -> None:
        """
        The connection is gone; requests still waiting are dropped, and it
        counts no more against its address's limits.

        @param delivered: it closed cleanly, so what it was sent arrived.
        """
        self._queue = None
        self._stop_flood_call()
        self._services.admission.closed(self)
        if self.state is not CLOSED:
            self._services.logins.leave(self, reason, delivered=delivered)

    def send_queue_exceeded(self, limit: int) -> Error:
        """
        The door holds over C{limit} bytes for the client, which does not
        read them: it leaves (the others are told C{send queue exceeded})
        and the log says so.

        @return: what tells the client why, which the door writes past its
            limit before it closes the connection (after a short grace, as
            IRC daemons send C{Closing Link: SendQ exceeded}).
        """
        services = self._services
        services.security_log.warn(
            _log,
            "disconnecting {peer} ({name}): it does not read, and over "
            "{limit} bytes of output are waiting (send queue exceeded)",
            peer=self.connection,
            name=self.name,
            limit=limit,
        )
        self._queue = None
        self._stop_flood_call()
        if self.state is not CLOSED:
            services.logins.leave(self, "send queue exceeded", delivered=False)
        return Error.refusing(services.clock.seconds(), SendQueueExceeded(limit))

    def set_acknowledges(self, acknowledges: bool) -> None:
        """
        Whether the client confirms stored messages itself (C{/ack}): a
        capability the door may learn as the client presents itself (as
        IRCv3 negotiates capabilities before registration), until it is
        in; fixed from then on.
        """
        if self.state is not ONLINE:
            self.acknowledges = acknowledges

    def tell(self, event: Event) -> None:
        """
        Send the client an event of the door's own (the answer to a
        request the door answers itself), in order with the rest: it
        counts as a request.
        """
        self._run(self._services.delivery.send, (self, event), False)

    def nothing(self) -> None:
        """
        The client sent something that asks for nothing (a blank line): it
        counts as a request all the same, so a flood of them waits for its
        turns like any other.
        """
        self._run(_nothing, (), False)

    def refuse(self, error: ChatError) -> None:
        """
        The door refused something the client sent (its syntax, its
        framing): the client is told in order, and it counts as a request.
        """
        self._run(_raise, (error,), False)

    # Talking.

    def say(self, text: str) -> None:
        """
        A message to everyone.
        """
        if len(text) > _SHORT:
            self._charge(text)
        self._run(self._services.messages.say, (self, text), True)

    def action(self, text: str) -> None:
        """
        An action (C{/me}), shown to everyone.
        """
        if len(text) > _SHORT:
            self._charge(text)
        self._run(self._services.messages.action, (self, text), True)

    def whisper(self, target: str, text: str) -> None:
        """
        A private message to C{target}; kept if C{target} is a registered
        name that is offline.
        """
        if len(text) > _SHORT:
            self._charge(text)
        self._run(self._services.messages.whisper, (self, target, text), True)

    def say_in(self, room: str, text: str) -> None:
        """
        A message to the members of C{room}.
        """
        if len(text) > _SHORT:
            self._charge(text)
        self._run(self._services.rooms.say, (self, room, text), True)

    # Looking around.

    def users(self) -> None:
        """
        Who is online.
        """
        self._run(self._services.logins.users, (self,), True)

    def history(self, count: int | None = None, room: str | None = None) -> None:
        """
        The last C{count} messages of C{room}, or of the main channel.
        """
        self._run(self._history, (count, room), True)

    def _history(self, count: int | None, room: str | None) -> Deferred[None]:
        limits = self._services.limits
        if count is None:
            count = limits.history_default
        if not 1 <= count <= limits.history_max:
            raise BadUsage(
                f"history shows 1 to {limits.history_max} messages at a time."
            )
        if room is None:
            return self._services.messages.history(self, count)
        return self._services.rooms.history(self, room, count)

    # Private history (issue 16).

    def private_history(self, name: str, count: int | None = None) -> None:
        """
        The last C{count} private messages between this user and C{name}
        (both registered).
        """
        self._run(self._private_history, (name, count), True)

    def _private_history(self, name: str, count: int | None) -> Deferred[None]:
        limits = self._services.limits
        if count is None:
            count = limits.history_default
        if not 1 <= count <= limits.history_max:
            raise BadUsage(
                f"history shows 1 to {limits.history_max} messages at a time."
            )
        return self._services.messages.private_history(self, name, count)

    def privacy(self, history: bool | None = None) -> None:
        """
        Whether this user's private messages are kept (L{None}: say which),
        and so can be read again with L{private_history}.
        """
        self._run(self._services.messages.privacy, (self, history), True)

    # Away (issue 16, "mentions").

    def away(self, reason: str | None = None) -> None:
        """
        Mark this user away with C{reason}, or (none) back; it ends when
        the connection closes.
        """
        self._run(self._services.messages.away, (self, reason), True)

    def rooms(self) -> None:
        """
        The rooms this client may know of.
        """
        self._run(self._services.rooms.listing, (self,), True)

    def members(self, room: str) -> None:
        """
        The members of C{room} online.
        """
        self._run(self._services.rooms.members, (self, room), True)

    def acknowledge(self, ids: Sequence[int]) -> None:
        """
        The client has the stored messages with these ids.
        """
        self._run(self._services.messages.acknowledge, (self, list(ids)), True)

    # Rooms.

    def join(self, room: str, since: int | None = None) -> None:
        """
        Join C{room}, creating it (and owning it) if there is none; with
        C{since}, a history id the client has the room up to, its history
        shown is only what came after (a rejoin after a reconnection).
        """
        self._run(self._services.rooms.join, (self, room, since), True)

    def leave(self, room: str, reason: str | None = None) -> None:
        """
        Stop being a member of C{room}.
        """
        self._run(self._services.rooms.leave, (self, room, self._reason(reason)), True)

    def topic(self, room: str, text: str | None = None) -> None:
        """
        Show the topic of C{room}, or set it to C{text}.
        """
        self._run(self._services.rooms.topic, (self, room, text), True)

    def set_invite_only(self, room: str, invite_only: bool) -> None:
        """
        Make C{room} invite-only, or open (its owner).
        """
        self._run(self._services.rooms.set_invite_only, (self, room, invite_only), True)

    def invite(self, name: str, room: str) -> None:
        """
        Invite C{name} to C{room} (its owner and operators).
        """
        self._run(self._services.rooms.invite, (self, name, room), True)

    def kick(self, name: str, room: str, reason: str | None = None) -> None:
        """
        Put C{name} out of C{room} (its owner and operators).
        """
        self._run(
            self._services.rooms.kick, (self, name, room, self._reason(reason)), True
        )

    def set_operator(self, name: str, room: str, operator: bool) -> None:
        """
        Make C{name} an operator of C{room}, or stop it (its owner).
        """
        self._run(self._services.rooms.set_operator, (self, name, room, operator), True)

    # Accounts.

    def register(self, password: str) -> None:
        """
        Reserve this client's name with C{password}.
        """
        self._run(self._services.accounts.register, (self, password), True)

    def change_password(self, old: str, new: str) -> None:
        """
        Change the password of this client's name.
        """
        self._run(self._services.accounts.change_password, (self, old, new), True)

    def unregister(self, password: str) -> None:
        """
        Give this client's name up.
        """
        self._run(self._services.accounts.unregister, (self, password), True)

    # Files.

    def offer_file(self, target: str, size: int, sha256: str, name: str) -> None:
        """
        Offer a file to C{target}, a user or a room.
        """
        self._run(
            self._services.transfers.offer, (self, target, size, sha256, name), True
        )

    def file_chunk(self, file_id: int, offset: int, data: bytes) -> None:
        """
        The bytes C{data} of an upload, from C{offset}.

        It takes no flood token: uploads are paced by their own window
        (the server holds the sender while the spool catches up).
        """
        self._credit += 1
        self._run(
            self._charged_if_refused,
            (self._services.transfers.chunk, self, file_id, offset, data),
            True,
        )

    def resume_upload(self, file_id: int) -> None:
        """
        Ask where to go on with an upload.
        """
        self._run(self._services.transfers.resume, (self, file_id), True)

    def get_file(self, file_id: int, offset: int) -> None:
        """
        The next chunk of a file offered to this client.

        It takes no flood token: downloads are paced by the client's own
        window, and what it asks for only it is sent.
        """
        self._credit += 1
        self._run(
            self._charged_if_refused,
            (self._services.transfers.get, self, file_id, offset),
            True,
        )

    def _charged_if_refused(
        self, handler: _Handler, *args: Any
    ) -> Deferred[None] | None:
        """
        Carry out a file request, which took no flood token; if it is
        refused, now or later, it is charged one after all: a stream of
        chunks or downloads of files that are not the client's is a flood
        like any other.
        """
        try:
            done = handler(*args)
        except ChatError:
            self._credit -= 1
            raise
        if done is None:
            return None

        def refused(failure: Failure) -> Failure:
            if failure.check(ChatError):
                self._credit -= 1
            return failure

        return done.addErrback(refused)

    def file_done(self, file_id: int) -> None:
        """
        The whole file arrived and checked out.
        """
        self._run(self._services.transfers.done, (self, file_id), True)

    def decline_file(self, file_id: int) -> None:
        """
        Refuse a file offered to this client.
        """
        self._run(self._services.transfers.decline, (self, file_id), True)

    def cancel_file(self, file_id: int) -> None:
        """
        Drop a file this client sent.
        """
        self._run(self._services.transfers.cancel, (self, file_id), True)

    def files(self) -> None:
        """
        The files waiting for this client, and its uploads to resume.
        """
        self._run(self._services.transfers.listing, (self,), True)

    def _reason(self, reason: str | None) -> str | None:
        """
        C{reason} cut to L{Limits.text_max}: a goodbye is never refused.
        """
        if reason is None:
            return None
        return reason[: self._services.limits.text_max]

    # Carrying requests out, in order.

    def _run(self, handler: _Handler, args: tuple[Any, ...], needs_name: bool) -> None:
        """
        Carry out a request now, or after those it must wait for.

        The hot path of every request, so the common case is written out:
        the turn's count (what L{_over_turn} does for the requests that
        waited), and a request of a client online (what L{_call} does with
        every check).
        """
        if self._queue is not None:
            # One waits, or this turn's share is done: keep the order.
            self._enqueue((handler, args, needs_name))
            return
        services = self._services
        turn = services.delivery.turn
        if turn != self._turn:
            self._turn, self._count = turn, 1
        elif self._count < services.requests_per_turn:
            self._count += 1
        else:
            self._turn_over = True
            services.delivery.next_turn(self._next_turn)
            self._queue = deque([(handler, args, needs_name)])
            self.connection.pause_input()
            return
        self._credit -= 1
        if self._credit < 0 and self._out_of_tokens(True):
            if self.state is not CLOSED:
                self._queue = deque([(handler, args, needs_name)])
                self.connection.pause_input()
            return
        if self.state is not ONLINE or self.unconfirmed is not None:
            self._call(handler, args, needs_name)
            return
        try:
            done = handler(*args)
        except ChatError as e:
            self._refused(e)
            return
        except Exception:
            # A bug: the client is told, the door never sees it.
            self._failed(Failure())
            return
        if done is not None:
            self._wait(done)

    def _enqueue(self, request: _Request) -> None:
        queue = self._queue
        assert queue is not None
        if len(queue) >= self._services.limits.queued_max:
            _log.warn("dropping {client}: its door kept feeding it", client=self)
            queue.clear()
            self.connection.abort()
            return
        queue.append(request)

    def _over_turn(self) -> bool:
        """
        Count a request against this turn's share: whether it must wait
        for the next turn.
        """
        services = self._services
        turn = services.delivery.turn
        if turn != self._turn:
            self._turn, self._count = turn, 1
            return False
        if self._count < services.requests_per_turn:
            self._count += 1
            return False
        self._turn_over = True
        services.delivery.next_turn(self._next_turn)
        return True

    def _out_of_tokens(self, fresh: bool) -> bool:
        """
        The tokens taken ran out: take more from the bucket.  If it is
        empty the request must wait: until the next token (L{_token}), or
        for ever if the client was held back too long and is dropped.

        @param fresh: the request just came (rather than waited): if it
            finds a token, the client kept to its rate.
        @return: whether the request must wait.
        """
        if self.exempt:
            self._credit = _UNLIMITED
            return False
        if self.state is CLOSED:
            # Nothing is carried out for it any more: not worth a wait.
            self._credit = 0
            return True
        bucket = self._bucket
        services = self._services
        flood = services.flood
        rate = flood.registered if self._registered() else flood.guest
        now = services.clock.seconds()
        taken = bucket.take(rate, now)
        if taken:
            self._credit = taken - 1
            if fresh:
                bucket.debt = 0.0
            return False
        self._credit = 0
        wait = bucket.wait(rate)
        if bucket.debt + wait > flood.backlog:
            self._excess_flood()
        else:
            bucket.held_at = now
            self._flood_call = services.clock.callLater(wait, self._token)
        return True

    def _charge(self, text: str) -> None:
        """
        A long message costs its sender more tokens, one per
        L{TOKEN_BYTES} beyond the first: from those the session holds, then
        from the bucket, which may go below empty (the next wait is that
        much longer).
        """
        extra = len(text.encode()) // TOKEN_BYTES
        if not extra or self.exempt:
            return
        credit = self._credit
        if credit >= extra:
            self._credit = credit - extra
        else:
            self._credit = 0
            self._bucket.level -= extra - credit

    def _registered(self) -> bool:
        """
        Whether the client is online under a registered name: it gets the
        registered users' flood limit.
        """
        key = self.key
        return (
            self.state is ONLINE
            and key is not None
            and self._services.accounts.registered(key) is not None
        )

    def _token(self) -> None:
        """
        The wait for a token is over: it counts, as long as it lasted,
        towards the time the client was held back in a row.
        """
        self._flood_call = None
        bucket = self._bucket
        bucket.debt += self._services.clock.seconds() - bucket.held_at
        self._drain()

    def _stop_flood_call(self) -> None:
        call, self._flood_call = self._flood_call, None
        if call is not None and call.active():
            call.cancel()

    def _excess_flood(self) -> None:
        """
        The client kept sending faster than its rate for too long: tell it
        why, drop it, and log it.
        """
        services = self._services
        services.security_log.warn(
            _log,
            "disconnecting {peer} ({name}): excess flood (held back over "
            "{backlog} seconds in a row)",
            peer=self.connection,
            name=self.name,
            backlog=services.flood.backlog,
        )
        self._queue = None
        self._stop_flood_call()
        services.delivery.send(
            self, Error.refusing(services.clock.seconds(), ExcessFlood())
        )
        services.logins.leave(self, "excess flood", delivered=False)
        self.connection.close()

    def _next_turn(self) -> None:
        self._turn_over = False
        self._drain()

    def _call(self, handler: _Handler, args: tuple[Any, ...], needs_name: bool) -> None:
        """
        Carry a request out now: refused if it needs a name the client has
        not given; a L{ChatError} it raises, or fails with later, becomes an
        L{Error}; if it returns a L{Deferred} the session waits for it.
        """
        state = self.state
        if state is not ONLINE:
            if state is CLOSED:
                return
            if needs_name:
                self._refused(NotJoined("please enter your name first."))
                return
        if self.unconfirmed is not None:
            # It reads and writes: what it was sent arrived.
            self._services.messages.confirm(self)
        try:
            done = handler(*args)
        except ChatError as e:
            self._refused(e)
            return
        except Exception:
            # A bug: the client is told, the door never sees it.
            self._failed(Failure())
            return
        if done is not None:
            self._wait(done)

    def _wait(self, done: Deferred[None]) -> None:
        """
        Carry out no more requests until C{done} fires.
        """
        done.addErrback(self._failed)
        self._waiting = True
        done.addBoth(self._waited)
        if self._waiting and self._queue is None:
            # Not done yet (whatever done.called says of a Deferred that
            # waits on another): later requests wait, and the door too.
            self._queue = deque()
            self.connection.pause_input()

    def _waited(self, result: object) -> None:
        self._waiting = False
        if not self._draining:
            # (When draining, the loop goes on: a request that was done at
            # once does not start another loop inside it.)
            self._drain()

    def _drain(self) -> None:
        """
        Carry out the requests that waited, until one waits again or this
        turn's share is done; then let the door go on.
        """
        queue = self._queue
        if queue is None:
            return
        self._draining = True
        try:
            while (
                queue
                and not self._waiting
                and not self._turn_over
                and self._flood_call is None
            ):
                if self.state is CLOSED:
                    queue.clear()
                    break
                if self._over_turn():
                    return
                self._credit -= 1
                if self._credit < 0 and self._out_of_tokens(False):
                    return
                handler, args, needs_name = queue.popleft()
                self._call(handler, args, needs_name)
        finally:
            self._draining = False
        if (
            not queue
            and not self._waiting
            and not self._turn_over
            and self._flood_call is None
        ):
            self._queue = None
            if self.state is not CLOSED:
                self.connection.resume_input()

    def _refused(self, error: ChatError) -> None:
        services = self._services
        services.log_limiter.info(
            _log,
            "refused a request from {peer} ({name}): {reason}",
            peer=self.connection,
            name=self.name,
            reason=str(error),
        )
        services.delivery.send(self, Error.refusing(services.clock.seconds(), error))

    def _failed(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, ChatError):
            self._refused(error)
            return
        if self._services.log_limiter.allow():
            _log.failure("a request from {peer} failed", failure, peer=self.peer)
        if self.state is not CLOSED:
            self._services.delivery.send(
                self,
                Error(
                    self._services.clock.seconds(),
                    "internal",
                    "the server could not carry that out; please try again.",
                ),
            )

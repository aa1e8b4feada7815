# -*- test-case-name: tests.core.test_rooms -*-
"""
Rooms: who is in which, who may do what there, and what rooms do when
users log in and out.

L{Room} and L{RoomRegistry} are plain synchronous state; L{Rooms} carries
out the requests (join, leave, talk, moderate), tells clients and asks
the store to remember, in the background.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, ParamSpec

from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.core.accounts import Accounts
from chat.core.client import ONLINE, Client
from chat.core.messages import check_text, replayed
from chat.core.names import TOPIC_MAX, Lookalikes, check_room, fold
from chat.core.peers import Peers
from chat.errors import (
    AlreadyInRoom,
    BadUsage,
    InviteOnly,
    LookalikeRoom,
    NoSuchRoom,
    NoSuchUser,
    NotInRoom,
    NotOperator,
    NotOwner,
    StoreFailed,
)
from chat.events import (
    Event,
    RoomEntered,
    RoomInfo,
    RoomInvite,
    RoomInvited,
    RoomJoined,
    RoomLeft,
    RoomList,
    RoomMembers,
    RoomMessage,
    RoomMode,
    RoomOp,
    RoomTopic,
)
from chat.store.interface import HistoryEntry, Membership, RoomRecord

_log: Final = Logger(namespace="chat.core.rooms")
_P = ParamSpec("_P")


@dataclass(eq=False)
class Room:
    """
    One room.

    @ivar key: the folded name, how the room is found and stored.
    @ivar name: the name as first typed.
    @ivar owner: the owner's name, or L{None}.
    @ivar owner_registered: the owner's name is registered, so ownership
        outlives the owner's connection.
    @ivar operators: folded names of the operators.
    @ivar invited: folded names allowed to join an invite-only room once.
    @ivar registered: registered members (online or not), folded, with the
        time each last logged out.
    @ivar online: members online, in the order they joined, with their
        folded names.
    @ivar saving: while the store has not yet confirmed the room's
        creation (or a new owner's claim), the joins waiting for its
        answer; L{None} otherwise.
    """

    key: str
    name: str
    created: float
    owner: str | None = None
    owner_registered: bool = False
    topic: str = ""
    invite_only: bool = False
    operators: set[str] = field(default_factory=set)
    invited: set[str] = field(default_factory=set)
    registered: dict[str, float] = field(default_factory=dict)
    online: dict[Client, str] = field(default_factory=dict)
    saving: list[Deferred[None]] | None = field(default=None, repr=False)
    _clients: tuple[Client, ...] | None = field(default=None, repr=False)
    _by_key: dict[str, Client] = field(default_factory=dict, repr=False)

    def clients(self) -> tuple[Client, ...]:
        """
        The members online, as a tuple kept between membership changes: a
        message to the room costs no copy, and a delivery that ends a
        connection (which leaves the room) cannot upset the loop over it.
        """
        clients = self._clients
        if clients is None:
            clients = self._clients = tuple(self.online)
        return clients

    def add(self, client: Client, key: str) -> None:
        self.online[client] = key
        self._by_key[key] = client
        self._clients = None

    def remove(self, client: Client) -> None:
        key = self.online.pop(client)
        if self._by_key.get(key) is client:
            del self._by_key[key]
        self._clients = None

    def is_owner(self, key: str) -> bool:
        return self.owner is not None and fold(self.owner) == key

    def may_moderate(self, key: str) -> bool:
        """
        Whether C{key} may set the topic, invite and kick.
        """
        return self.is_owner(key) or key in self.operators

    def is_member(self, key: str) -> bool:
        return key in self.registered or key in self._by_key

    def client_of(self, key: str) -> Client | None:
        """
        The online member called C{key}.
        """
        return self._by_key.get(key)

    def visible_to(self, key: str) -> bool:
        """
        Whether C{key} may learn of the room (C{/rooms}, C{/who}).
        """
        return not self.invite_only or self.is_member(key) or key in self.invited

    def abandoned(self) -> bool:
        """
        Nothing keeps the room: nobody in it, no registered member and no
        registered owner.
        """
        return not self.online and not self.registered and not self.owner_registered


class RoomRegistry:
    """
    Every room, and indexes from members to rooms so that a login or a
    disconnection costs O(the member's rooms), never O(rooms).
    """

    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}
        # Online client -> the rooms it is in.
        self._of_client: dict[Client, list[Room]] = {}
        # Registered member key -> the rooms it belongs to.
        self._of_account: dict[str, set[Room]] = {}
        # Guest name key -> rooms it was invited to (gone when it leaves).
        self._guest_invites: dict[str, set[Room]] = {}
        # The skeletons of the rooms' names, in step with _rooms.
        self._lookalikes = Lookalikes()

    def load(self, records: Iterable[RoomRecord], accounts: dict[str, str]) -> None:
        """
        Rebuild the rooms kept by the store.
        """
        for record in records:
            owner = accounts.get(record.owner) if record.owner else None
            room = Room(
                record.key,
                record.name,
                record.created,
                owner=owner,
                owner_registered=owner is not None,
                topic=record.topic,
                invite_only=record.invite_only,
                operators={m.member for m in record.members if m.operator},
                invited=set(record.invites),
                registered={m.member: m.seen for m in record.members},
            )
            self._rooms[room.key] = room
            self._lookalikes.add(room.key, room.name)
            for key in room.registered:
                self._of_account.setdefault(key, set()).add(room)

    def get(self, name: str) -> Room | None:
        return self._rooms.get(fold(name))

    def lookalike(self, name: str) -> str | None:
        """
        The name of another room that looks like C{name} (as shown).
        """
        return self._lookalikes.find(name, fold(name))

    def create(self, room: Room) -> None:
        self._rooms[room.key] = room
        self._lookalikes.add(room.key, room.name)

    def discard(self, room: Room) -> None:
        if self._rooms.get(room.key) is room:
            del self._rooms[room.key]
            self._lookalikes.discard(room.key)
        for key in room.invited:
            self._uninvite_guest(key, room)

    def __iter__(self) -> Iterator[Room]:
        return iter(self._rooms.values())

    def __len__(self) -> int:
        return len(self._rooms)

    def rooms_of(self, client: Client) -> list[Room]:
        return self._of_client.get(client, [])

    def rooms_of_account(self, key: str) -> set[Room]:
        return self._of_account.get(key, set())

    def enter(self, room: Room, client: Client, key: str) -> None:
        """
        C{client} (called C{key}) is online in C{room}.
        """
        room.add(client, key)
        self._of_client.setdefault(client, []).append(room)

    def exit(self, room: Room, client: Client) -> None:
        """
        C{client} is no longer online in C{room} (it may stay a member).
        """
        room.remove(client)
        rooms = self._of_client.get(client)
        if rooms is not None:
            rooms.remove(room)
            if not rooms:
                del self._of_client[client]

    def add_account(self, room: Room, key: str, now: float) -> None:
        room.registered[key] = now
        self._of_account.setdefault(key, set()).add(room)

    def remove_account(self, room: Room, key: str) -> None:
        room.registered.pop(key, None)
        rooms = self._of_account.get(key)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._of_account[key]

    def invite_guest(self, key: str, room: Room) -> None:
        room.invited.add(key)
        self._guest_invites.setdefault(key, set()).add(room)

    def forget_guest_invites(self, key: str) -> set[Room]:
        """
        Forget every invitation of the guest called C{key}.
        """
        rooms = self._guest_invites.pop(key, set())
        for room in rooms:
            room.invited.discard(key)
        return rooms

    def _uninvite_guest(self, key: str, room: Room) -> None:
        rooms = self._guest_invites.get(key)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._guest_invites[key]


class Rooms:
    """
    The rooms and their requests.

    Join and leave notices go to a room's members only while at most
    L{Limits.room_announce} are online; a registered member is shown at
    most L{Limits.missed_max} missed messages per room at login.
    """

    def __init__(self, peers: Peers, accounts: Accounts) -> None:
        self._clock = peers.clock
        self._store = peers.store
        self._presence = peers.presence
        self._fanout = peers.fanout
        self._delivery = peers.delivery
        self._limits = peers.limits
        self.keep_history = peers.keep_history
        self._accounts = accounts
        self.rooms = RoomRegistry()
        self._stopping = False
        accounts.on_unregistered.append(self.unregistered)

    def load(self) -> Deferred[None]:
        """
        Read the rooms kept by the store (after the accounts).
        """
        return self._store.load_rooms().addCallback(self._loaded)

    def _loaded(self, records: list[RoomRecord]) -> None:
        self.rooms.load(records, self._accounts.names)
        # Rooms only guests were in: nobody is in them after a restart.
        for room in list(self.rooms):
            self._forget_if_abandoned(room)

    def get(self, name: str) -> Room | None:
        """
        The room called C{name} (any case), if there is one.
        """
        return self.rooms.get(name)

    # Helpers.

    def _now(self) -> float:
        return self._clock.seconds()

    def _room(self, name: str, key: str | None = None) -> Room:
        """
        The room called C{name}; to C{key}, if it may not know of the room
        (invite-only, neither member nor invited), the answer every other
        command gives an outsider: it is not in the room.  (C{/join} tells
        the room exists anyway: IRC daemons answer a secret channel's
        outsiders C{ERR_NOTONCHANNEL} the same way, and hide it only from
        listings.)
        """
        room = self.rooms.get(check_room(name))
        if room is None:
            raise NoSuchRoom(name)
        if key is not None and not room.visible_to(key):
            raise NotInRoom(room.name)
        return room

    def _member_room(self, client: Client, name: str) -> Room:
        # Every room message comes here: a room found has a good name, so
        # only one not found is checked (to say which is wrong).
        room = self.rooms.get(name)
        if room is None:
            check_room(name)
            raise NoSuchRoom(name)
        if client not in room.online:
            raise NotInRoom(room.name)
        return room

    def _tell(self, room: Room, event: Event, sender: Client | None = None) -> None:
        """
        Deliver C{event} to every member online but C{sender}.
        """
        self._fanout.to_room(room.key, room.clients(), event, sender)

    def _registered(self, key: str) -> bool:
        return self._accounts.registered(key) is not None

    def _persist(
        self,
        what: str,
        change: Callable[_P, Deferred[None]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        """
        Ask the store for C{change}, in the background: a failure is logged.
        Once the server is stopping, nothing more is written (the store
        closes; guests' rooms are dropped at the next start anyway).
        """
        if self._stopping:
            return
        d = change(*args, **kwargs)
        d.addErrback(lambda f: _log.failure("could not save {what}", f, what=what))

    @staticmethod
    def _record(room: Room) -> RoomRecord:
        owner = fold(room.owner) if room.owner and room.owner_registered else None
        return RoomRecord(
            room.key, room.name, owner, room.topic, room.invite_only, room.created
        )

    def _save_room(self, room: Room) -> None:
        self._persist(f"room {room.name}", self._store.save_room, self._record(room))

    def _save_member(self, room: Room, key: str) -> None:
        membership = Membership(
            room.key, key, key in room.operators, room.registered[key]
        )
        self._persist("a membership", self._store.save_member, membership)

    def _forget_if_abandoned(self, room: Room) -> None:
        if room.abandoned():
            self.rooms.discard(room)
            self._persist(f"room {room.name}", self._store.delete_room, room.key)

    def _entered(self, room: Room, *, created: bool, rejoined: bool) -> RoomEntered:
        count = len(room.online)
        shown = (
            tuple(sorted(self._names(room), key=fold))
            if count <= self._limits.room_list
            else ()
        )
        return RoomEntered(
            self._now(),
            room.name,
            shown,
            count,
            room.topic,
            room.owner,
            room.invite_only,
            created=created,
            rejoined=rejoined,
        )

    @staticmethod
    def _names(room: Room) -> list[str]:
        return [str(client.name) for client in room.online]

    def _end_membership(self, room: Room, client: Client | None, key: str) -> None:
        """
        C{key} is no longer a member of C{room} at all: it left or was
        kicked.
        """
        if client is not None:
            self.rooms.exit(room, client)
        if key in room.registered:
            self.rooms.remove_account(room, key)
            self._persist("a membership", self._store.delete_member, room.key, key)
        room.operators.discard(key)
        if room.is_owner(key) and not room.owner_registered:
            room.owner = None
        self._forget_if_abandoned(room)

    # Sending.

    def say(self, client: Client, name: str, text: str) -> None:
        """
        A message to the members of the room C{name}.
        """
        check_text(text, self._limits.text_max)
        room = self._member_room(client, name)
        now = self._now()
        sender = str(client.name)
        id_ = 0
        if self.keep_history:
            # Stored first: the store gives the id the message carries.
            entry = HistoryEntry(0, room.key, sender, text, now)
            self._store.add_history(entry)
            id_ = entry.id
        self._tell(room, RoomMessage(now, room.name, sender, text, id_), client)

    # Membership.

    def join(
        self, client: Client, name: str, since: int | None = None
    ) -> Deferred[None] | None:
        """
        Join the room C{name}, creating it if needed; a new room's name may
        not look like an existing room's (C{#ѕecret} with a Cyrillic s
        beside C{#secret}), while C{#ｓｅｃｒｅｔ} simply is C{#secret}.

        C{since}, a history id, asks for the room's history after it only
        (IRCv3 C{chathistory AFTER}): a client rejoining after a
        reconnection is not shown again what it has.  An id this server
        has not given (its in-memory history was lost) asks for nothing:
        the usual history is shown.

        Creating a room, or becoming the owner of an ownerless one, is
        acknowledged only once the store has it: until then the asker's
        later requests wait, other joins of the room wait, and a store
        failure leaves no room and says so.  A crash cannot leave
        someone told it owns a room that a stranger then creates.
        """
        name = check_room(name)
        room = self.rooms.get(name)
        if room is not None and room.saving is not None:
            waiting: Deferred[None] = Deferred()
            room.saving.append(waiting)
            return waiting.addCallback(lambda _: self._join_again(client, name, since))
        user, key = str(client.name), str(client.key)
        registered = self._registered(key)
        now = self._now()
        if room is None:
            other = self.rooms.lookalike(name)
            if other is not None:
                raise LookalikeRoom(name, other)
            room = Room(fold(name), name, now, owner=user, owner_registered=registered)
            self.rooms.create(room)
            return self._claim(client, room, created=True, since=None)
        if client in room.online:
            raise AlreadyInRoom(room.name)
        if room.invite_only and not (
            room.may_moderate(key) or key in room.invited or key in room.registered
        ):
            raise InviteOnly(room.name)
        if key in room.invited:
            room.invited.discard(key)
            if registered:
                self._persist("an invitation", self._store.delete_invite, room.key, key)
        if room.owner is None and not room.online and not room.registered:
            # An ownerless, empty room: whoever comes first owns it.
            room.owner, room.owner_registered = user, registered
            return self._claim(client, room, created=False, since=since)
        return self._enter(client, room, created=False, since=since)

    def _join_again(
        self, client: Client, name: str, since: int | None
    ) -> Deferred[None] | None:
        """
        A join that waited for the store's answer about the room: now
        carried out (it may create the room, if its creation failed).
        """
        if client.state is not ONLINE:
            return None
        return self.join(client, name, since)

    def _claim(
        self, client: Client, room: Room, *, created: bool, since: int | None
    ) -> Deferred[None]:
        """
        Store C{room}, just created or claimed by C{client}, then let
        C{client} in; the joins that came meanwhile go on after.
        """
        room.saving = []

        def saved(_: None) -> Deferred[None] | None:
            try:
                if client.state is ONLINE:
                    return self._enter(client, room, created=created, since=since)
                # Gone meanwhile: as if it had joined and left.
                if room.is_owner(str(client.key)) and not room.owner_registered:
                    room.owner = None
                self._forget_if_abandoned(room)
                return None
            finally:
                # The asker first, then the joins that waited.
                self._saved(room)

        def failed(failure: Failure) -> None:
            _log.failure("could not save room {room}", failure, room=room.name)
            if created:
                self.rooms.discard(room)
            else:
                room.owner, room.owner_registered = None, False
            # Then the joins that waited: one may create the room anew.
            self._saved(room)
            raise StoreFailed(
                f"{room.name} could not be saved, so you are not in it; "
                "please try again."
            )

        d = self._store.save_room(self._record(room))
        return d.addCallbacks(saved, failed)

    @staticmethod
    def _saved(room: Room) -> None:
        """
        The store answered about C{room}: the joins that waited go on.
        """
        waiting, room.saving = room.saving or [], None
        for d in waiting:
            d.callback(None)

    def _enter(
        self, client: Client, room: Room, *, created: bool, since: int | None
    ) -> Deferred[None] | None:
        """
        C{client} is let in C{room}: it is told (with the room's latest
        history), and so are the members.
        """
        user, key = str(client.name), str(client.key)
        now = self._now()
        self.rooms.enter(room, client, key)
        if self._registered(key) and key not in room.registered:
            self.rooms.add_account(room, key, now)
            self._save_member(room, key)
        if len(room.online) <= self._limits.room_announce:
            self._tell(room, RoomJoined(now, room.name, user), client)
        entered = self._entered(room, created=created, rejoined=False)
        replay = self._limits.history_on_join if self.keep_history else 0
        if created or not replay:
            self._delivery.send(client, entered)
            return None
        if since is not None and not 0 <= since <= self._store.last_history_id:
            since = None
        self._delivery.hold(client)
        return Deferred.fromCoroutine(
            self._replay(client, room, entered, replay, since)
        )

    async def _replay(
        self,
        client: Client,
        room: Room,
        entered: RoomEntered,
        count: int,
        since: int | None,
    ) -> None:
        events: list[Event] = [entered]
        try:
            if since is None:
                entries = await self._store.history(room.key, count)
            else:
                entries = await self._store.history_after(room.key, since, count)
        except Exception:
            _log.failure("reading the history of {room} failed", room=room.name)
            entries = []
        if entries:
            events += replayed(entries, self._now(), room.name)
        self._delivery.release(client, events)

    def leave(self, client: Client, name: str, reason: str | None = None) -> None:
        """
        Stop being a member of the room C{name}.
        """
        room = self._member_room(client, name)
        event = RoomLeft(self._now(), room.name, str(client.name), reason)
        if len(room.online) <= self._limits.room_announce:
            self._tell(room, event)
        else:
            self._delivery.send(client, event)
        self._end_membership(room, client, str(client.key))

    def logged_in(self, client: Client) -> list[Room]:
        """
        A registered user logged in: put it back in its rooms (live traffic
        from now on); the caller shows it what it missed (L{missed}).
        """
        key = str(client.key)
        rooms = sorted(self.rooms.rooms_of_account(key), key=lambda r: r.key)
        now = self._now()
        for room in rooms:
            self.rooms.enter(room, client, key)
            if len(room.online) <= self._limits.room_announce:
                self._tell(room, RoomJoined(now, room.name, str(client.name)), client)
        return rooms

    async def missed(self, key: str, rooms: list[Room], until: float) -> list[Event]:
        """
        For each room a registered member was put back in: its join line,
        then what was said while it was away.
        """
        events: list[Event] = []
        for room in rooms:
            events.append(self._entered(room, created=False, rejoined=True))
            seen = room.registered.get(key)
            if seen is None or not self.keep_history:
                continue
            entries = await self._store.history_since(
                room.key, seen, until, self._limits.missed_max
            )
            if entries:
                events += replayed(entries, self._now(), room.name, missed=True)
        return events

    def gone(self, client: Client, reason: str | None) -> None:
        """
        C{client} disconnected: it leaves every room it is in; a registered
        user stays a member, a guest does not.
        """
        rooms = list(self.rooms.rooms_of(client))
        name, key = client.name, client.key
        if name is None or key is None:
            return
        registered = self._registered(key)
        now = self._now()
        for room in rooms:
            if len(room.online) <= self._limits.room_announce:
                self._tell(room, RoomLeft(now, room.name, name, reason), client)
            if registered and key in room.registered:
                self.rooms.exit(room, client)
                room.registered[key] = now
            else:
                self._end_membership(room, client, key)
        if registered and rooms:
            self._persist("a logout time", self._store.set_seen, key, now)
        if not registered:
            self.rooms.forget_guest_invites(key)

    def stopping(self) -> Deferred[None]:
        """
        The server is stopping: registered members online now have seen
        everything so far, so their next login does not replay it as
        missed.
        """
        self._stopping = True
        now = self._now()
        saves = [
            self._store.set_seen(str(client.key), now)
            for client in self._presence.everyone()
            if self.rooms.rooms_of(client) and self._registered(str(client.key))
        ]
        d = gatherResults(saves, consumeErrors=True)
        d.addErrback(lambda f: _log.failure("could not save logout times", f))
        return d.addCallback(lambda _: None)

    def unregistered(self, client: Client, key: str) -> None:
        """
        C{key} gave its name up: its memberships and rights last only while
        it is online, like a guest's (the store forgot them already).
        """
        for room in list(self.rooms.rooms_of_account(key)):
            self.rooms.remove_account(room, key)
            if client not in room.online:
                room.operators.discard(key)
        # Ownership and invitations have no index by name: a scan, for
        # something as rare as giving a name up.
        for room in list(self.rooms):
            room.invited.discard(key)
            if room.is_owner(key) and room.owner_registered:
                room.owner_registered = False
                if client not in room.online:
                    room.owner = None
            self._forget_if_abandoned(room)

    # Looking around.

    def listing(self, client: Client) -> None:
        """
        The rooms C{client} may know of.
        """
        key = str(client.key)
        infos = tuple(
            RoomInfo(
                room.name,
                len(room.online),
                room.topic,
                room.invite_only,
                room.is_member(key),
            )
            for room in sorted(self.rooms, key=lambda r: r.key)
            if room.visible_to(key)
        )
        self._delivery.send(client, RoomList(self._now(), infos))

    def members(self, client: Client, name: str) -> None:
        """
        The members online of the room C{name}.
        """
        key = str(client.key)
        room = self._room(name, key)
        if room.invite_only and not room.is_member(key):
            raise NotInRoom(room.name)
        names = tuple(sorted(self._names(room), key=fold))
        operators = tuple(n for n in names if fold(n) in room.operators)
        self._delivery.send(
            client, RoomMembers(self._now(), room.name, names, room.owner, operators)
        )

    def history(self, client: Client, name: str, count: int) -> Deferred[None]:
        """
        The last C{count} messages of the room C{name}, for members.
        """
        room = self._member_room(client, name)

        def show(entries: list[HistoryEntry]) -> None:
            for event in replayed(entries, self._now(), room.name):
                self._delivery.send(client, event)

        if not self.keep_history:
            return succeed([]).addCallback(show)
        return self._store.history(room.key, count).addCallback(show)

    # Moderation.

    def topic(self, client: Client, name: str, text: str | None) -> None:
        """
        Show the topic of the room C{name}, or set it to C{text}.
        """
        key = str(client.key)
        room = self._room(name, key)
        text = (text or "").strip()
        if not text:
            self._delivery.send(client, RoomTopic(self._now(), room.name, room.topic))
            return
        if client not in room.online:
            raise NotInRoom(room.name)
        if not room.may_moderate(key):
            raise NotOperator(
                f"only the owner and operators of {room.name} can set its topic."
            )
        if len(text) > TOPIC_MAX:
            raise BadUsage(f"a topic is at most {TOPIC_MAX} characters.")
        room.topic = text
        self._save_room(room)
        self._tell(room, RoomTopic(self._now(), room.name, text, str(client.name)))

    def set_invite_only(self, client: Client, name: str, invite_only: bool) -> None:
        """
        Make the room C{name} invite-only, or open.
        """
        room = self._member_room(client, name)
        if not room.is_owner(str(client.key)):
            raise NotOwner(f"only the owner of {room.name} can change its mode.")
        room.invite_only = invite_only
        self._save_room(room)
        self._tell(
            room, RoomMode(self._now(), room.name, room.invite_only, str(client.name))
        )

    def _moderator(self, client: Client, room: Room) -> str:
        key = str(client.key)
        if client not in room.online:
            raise NotInRoom(room.name)
        if not room.may_moderate(key):
            raise NotOperator(
                f"only the owner and operators of {room.name} can do that."
            )
        return key

    def invite(self, client: Client, target: str, name: str) -> None:
        """
        Let C{target} join the room C{name}, invite-only or not.
        """
        room = self._room(name)
        self._moderator(client, room)
        key = fold(target)
        registered = self._accounts.registered(key)
        try:
            invitee: Client | None = self._presence.lookup(target)
        except NoSuchUser:
            invitee = None
            if registered is None:
                raise
        if room.is_member(key):
            raise BadUsage(f"{target} is already in {room.name}.")
        shown = str(invitee.name) if invitee is not None else str(registered)
        if registered is not None:
            room.invited.add(key)
            self._persist("an invitation", self._store.save_invite, room.key, key)
        else:
            self.rooms.invite_guest(key, room)
        now = self._now()
        if invitee is not None:
            self._delivery.send(invitee, RoomInvite(now, room.name, str(client.name)))
        self._delivery.send(client, RoomInvited(now, room.name, shown))

    def kick(
        self, client: Client, target: str, name: str, reason: str | None = None
    ) -> None:
        """
        Put C{target} out of the room C{name}.
        """
        room = self._room(name)
        mine = self._moderator(client, room)
        key, kicked, shown = self._member(room, target)
        if room.is_owner(key):
            raise NotOwner(f"nobody can kick the owner of {room.name}.")
        if key in room.operators and not room.is_owner(mine):
            raise NotOwner(f"only the owner of {room.name} can kick an operator.")
        self._tell(
            room,
            RoomLeft(self._now(), room.name, shown, reason or None, str(client.name)),
        )
        self._end_membership(room, kicked, key)

    def _member(self, room: Room, target: str) -> tuple[str, Client | None, str]:
        """
        The member C{target} of C{room}: its key, its client if online, and
        its name as shown.

        @raise BadUsage: if it is not a member.
        """
        key = fold(target)
        if not room.is_member(key):
            raise BadUsage(f"{target} is not in {room.name}.")
        client = room.client_of(key)
        if client is not None:
            return key, client, str(client.name)
        return key, None, self._accounts.registered(key) or target

    def set_operator(self, client: Client, target: str, name: str, op: bool) -> None:
        """
        Make C{target} an operator of the room C{name} (C{op}), or stop it.
        """
        room = self._room(name)
        if client not in room.online:
            raise NotInRoom(room.name)
        if not room.is_owner(str(client.key)):
            raise NotOwner(f"only the owner of {room.name} can name operators.")
        key, _, shown = self._member(room, target)
        if op:
            room.operators.add(key)
        else:
            room.operators.discard(key)
        if key in room.registered:
            self._save_member(room, key)
        self._tell(room, RoomOp(self._now(), room.name, shown, str(client.name), op))

# -*- test-case-name: tests.test_rooms -*-
"""
The room commands (C{/join}, C{/leave}, C{#room*text}, moderation) and what
rooms do when users log in and out.

Part of the dispatcher, split out for size: it shares the dispatcher's
registry, store, clock and fan-out, and raises L{ChatError}s the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, ParamSpec

from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.logger import Logger

from chat.commands import TOPIC_MAX, check_room, fold
from chat.errors import (
    AlreadyInRoom,
    BadUsage,
    InviteOnly,
    NoSuchRoom,
    NoSuchUser,
    NotInRoom,
    NotOperator,
    NotOwner,
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
    replayed,
)
from chat.registry import IChatClient
from chat.rooms import Room, RoomRegistry
from chat.store import HistoryEntry, RoomRecord

if TYPE_CHECKING:
    from chat.dispatcher import Dispatcher

_log: Final = Logger(namespace="chat.rooms")
_P = ParamSpec("_P")

# Members listed in the join line; /who lists everyone.
ROOM_LIST_LIMIT: Final = 50


def _room_arg(words: list[str], usage: str) -> str:
    if not words:
        raise BadUsage(f"usage: {usage}")
    return check_room(words[0])


class RoomCommands:
    """
    Rooms for one dispatcher.

    @ivar announce_limit: join and leave notices go to a room's members
        only while at most this many are online.
    @ivar missed_max: at most this many missed messages per room are shown
        to a registered member at login.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        announce_limit: int = 200,
        missed_max: int = 50,
    ) -> None:
        self._d = dispatcher
        self.rooms = RoomRegistry()
        self.announce_limit = announce_limit
        self.missed_max = missed_max
        self._stopping = False

    def load(self) -> Deferred[None]:
        """
        Read the rooms kept by the store (after the accounts).
        """
        d = self._d.store.load_rooms()
        return d.addCallback(self._loaded)

    def _loaded(self, records: list[RoomRecord]) -> None:
        self.rooms.load(records, self._d.accounts)
        # Rooms only guests were in: nobody is in them after a restart.
        for room in list(self.rooms):
            self._forget_if_abandoned(room)

    # Helpers.

    def _now(self) -> float:
        return self._d.clock.seconds()

    def _room(self, name: str, key: str | None = None) -> Room:
        """
        The room called C{name}; one that C{key} may not know of does not
        exist for it.
        """
        room = self.rooms.get(name)
        if room is None or (key is not None and not room.visible_to(key)):
            raise NoSuchRoom(name)
        return room

    def _member_room(self, client: IChatClient, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            raise NoSuchRoom(name)
        if client not in room.online:
            raise NotInRoom(room.name)
        return room

    def _tell(self, room: Room, event: Event) -> None:
        """
        Deliver C{event} to every member online.
        """
        self._d.fan_out(event, room.clients(), None)

    def _registered(self, key: str) -> bool:
        return key in self._d.accounts

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

    def _save_room(self, room: Room) -> None:
        owner = fold(room.owner) if room.owner and room.owner_registered else None
        self._persist(
            f"room {room.name}",
            self._d.store.save_room,
            room.key,
            room.name,
            owner,
            room.topic,
            room.invite_only,
            room.created,
        )

    def _forget_if_abandoned(self, room: Room) -> None:
        if room.abandoned():
            self.rooms.discard(room)
            self._persist(f"room {room.name}", self._d.store.delete_room, room.key)

    def _entered(self, room: Room, *, created: bool, rejoined: bool) -> RoomEntered:
        count = len(room.online)
        shown = (
            tuple(sorted(self._names(room), key=fold))
            if count <= ROOM_LIST_LIMIT
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

    def _end_membership(self, room: Room, client: IChatClient | None, key: str) -> None:
        """
        C{key} is no longer a member of C{room} at all: it left or was
        kicked.
        """
        if client is not None:
            self.rooms.exit(room, client)
        if key in room.registered:
            self.rooms.remove_account(room, key)
            self._persist("a membership", self._d.store.delete_member, room.key, key)
        room.operators.discard(key)
        if room.is_owner(key) and not room.owner_registered:
            room.owner = None
        self._forget_if_abandoned(room)

    # Sending.

    def say(self, client: IChatClient, sender: str, name: str, text: str) -> None:
        """
        C{#room*text}: a message to the room's members.
        """
        if not text:
            raise BadUsage("empty message; usage: #room*TEXT or /say #room TEXT")
        room = self._member_room(client, name)
        now = self._now()
        self._d.fan_out(
            RoomMessage(now, room.name, sender, text), room.clients(), client
        )
        if self._d.keep_history:
            self._d.store.add_history(room.key, sender, text, now)

    def command_say(self, client: IChatClient, args: str) -> None:
        """
        C{/say #room TEXT}.
        """
        name, _, text = args.lstrip().partition(" ")
        if not name or not text.strip():
            raise BadUsage("usage: /say #room TEXT")
        self.say(client, str(client.name), check_room(name), text)

    # Membership.

    def command_join(self, client: IChatClient, args: str) -> Deferred[None] | None:
        """
        C{/join #room}: join, creating the room if needed.
        """
        words = args.split()
        if len(words) != 1:
            raise BadUsage("usage: /join #room")
        name = check_room(words[0])
        user = str(client.name)
        key = fold(user)
        registered = self._registered(key)
        now = self._now()
        room = self.rooms.get(name)
        created = room is None
        if room is None:
            room = Room(fold(name), name, now, owner=user, owner_registered=registered)
            self.rooms.create(room)
            self._save_room(room)
        else:
            if client in room.online:
                raise AlreadyInRoom(room.name)
            if room.invite_only and not (
                room.may_moderate(key) or key in room.invited or key in room.registered
            ):
                raise InviteOnly(room.name)
            if key in room.invited:
                room.invited.discard(key)
                if registered:
                    self._persist(
                        "an invitation", self._d.store.delete_invite, room.key, key
                    )
            if room.owner is None and not room.online and not room.registered:
                # An ownerless, empty room: whoever comes first owns it.
                room.owner, room.owner_registered = user, registered
                self._save_room(room)
        self.rooms.enter(room, client, key)
        if registered and key not in room.registered:
            self.rooms.add_account(room, key, now)
            self._persist(
                "a membership",
                self._d.store.save_member,
                room.key,
                key,
                key in room.operators,
                now,
            )
        if len(room.online) <= self.announce_limit:
            self._d.fan_out(RoomJoined(now, room.name, user), room.clients(), client)
        entered = self._entered(room, created=created, rejoined=False)
        replay = self._d.limits.history_on_join if self._d.keep_history else 0
        if created or not replay:
            client.deliver(entered)
            return None
        client.hold()
        return Deferred.fromCoroutine(self._replay(client, room, entered, replay))

    async def _replay(
        self, client: IChatClient, room: Room, entered: RoomEntered, count: int
    ) -> None:
        events: list[Event] = [entered]
        try:
            entries = await self._d.store.history(room.key, count)
        except Exception:
            _log.failure("reading the history of {room} failed", room=room.name)
            entries = []
        if entries:
            events += replayed(entries, self._now(), room.name)
        client.release(events)

    def command_leave(self, client: IChatClient, args: str) -> None:
        """
        C{/leave #room [REASON]}: stop being a member.
        """
        words = args.split(None, 1)
        room = self._member_room(client, _room_arg(words, "/leave #room [REASON]"))
        reason = words[1].strip() if len(words) > 1 else None
        user = str(client.name)
        event = RoomLeft(self._now(), room.name, user, reason)
        if len(room.online) <= self.announce_limit:
            self._tell(room, event)
        else:
            client.deliver(event)
        self._end_membership(room, client, fold(user))

    command_part = command_leave

    def logged_in(self, client: IChatClient, key: str) -> list[Room]:
        """
        A registered user logged in: put it back in its rooms (live traffic
        from now on); the caller shows it what it missed.
        """
        rooms = sorted(self.rooms.rooms_of_account(key), key=lambda r: r.key)
        now = self._now()
        for room in rooms:
            self.rooms.enter(room, client, key)
            if len(room.online) <= self.announce_limit:
                self._d.fan_out(
                    RoomJoined(now, room.name, str(client.name)), room.clients(), client
                )
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
            if seen is None or not self._d.keep_history:
                continue
            entries = await self._d.store.history_since(
                room.key, seen, until, self.missed_max
            )
            if entries:
                events += replayed(entries, self._now(), room.name, missed=True)
        return events

    def gone(self, client: IChatClient, reason: str | None) -> None:
        """
        C{client} disconnected: it leaves every room it is in; a registered
        user stays a member, a guest does not.
        """
        rooms = list(self.rooms.rooms_of(client))
        name = client.name
        if name is None:
            return
        key = fold(name)
        registered = self._registered(key)
        now = self._now()
        for room in rooms:
            if len(room.online) <= self.announce_limit:
                event = RoomLeft(now, room.name, name, reason)
                self._d.fan_out(event, room.clients(), client)
            if registered and key in room.registered:
                self.rooms.exit(room, client)
                room.registered[key] = now
            else:
                self._end_membership(room, client, key)
        if registered and rooms:
            self._persist("a logout time", self._d.store.set_seen, key, now)
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
            self._d.store.set_seen(fold(str(client.name)), now)
            for client in list(self._d.registry)
            if self.rooms.rooms_of(client) and self._registered(fold(str(client.name)))
        ]
        d = gatherResults(saves, consumeErrors=True)
        d.addErrback(lambda f: _log.failure("could not save logout times", f))
        return d.addCallback(lambda _: None)

    def unregistered(self, client: IChatClient, key: str) -> None:
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

    def command_rooms(self, client: IChatClient, args: str) -> None:
        """
        C{/rooms}: the rooms the asker may know of.
        """
        key = fold(str(client.name))
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
        client.deliver(RoomList(self._now(), infos))

    def command_who(self, client: IChatClient, args: str) -> None:
        """
        C{/who #room}: the room's members online.
        """
        words = args.split()
        key = fold(str(client.name))
        room = self._room(_room_arg(words, "/who #room"), key)
        if room.invite_only and not room.is_member(key):
            raise NotInRoom(room.name)
        names = tuple(sorted(self._names(room), key=fold))
        operators = tuple(n for n in names if fold(n) in room.operators)
        client.deliver(
            RoomMembers(self._now(), room.name, names, room.owner, operators)
        )

    def history(self, client: IChatClient, name: str, count: int) -> Deferred[None]:
        """
        C{/history #room [N]}, for members.
        """
        room = self._member_room(client, name)

        def show(entries: list[HistoryEntry]) -> None:
            for event in replayed(entries, self._now(), room.name):
                client.deliver(event)

        if not self._d.keep_history:
            return succeed([]).addCallback(show)
        return self._d.store.history(room.key, count).addCallback(show)

    # Moderation.

    def command_topic(self, client: IChatClient, args: str) -> None:
        """
        C{/topic #room [TEXT]}: show or set the topic.
        """
        name, _, text = args.strip().partition(" ")
        key = fold(str(client.name))
        room = self._room(_room_arg([name] if name else [], "/topic #room [TEXT]"), key)
        text = text.strip()
        if not text:
            client.deliver(RoomTopic(self._now(), room.name, room.topic))
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

    def command_mode(self, client: IChatClient, args: str) -> None:
        """
        C{/mode #room +i|-i}: invite-only or open.
        """
        words = args.split()
        if len(words) != 2 or words[1] not in ("+i", "-i"):
            raise BadUsage("usage: /mode #room +i (invite-only) or -i (open)")
        room = self._member_room(client, check_room(words[0]))
        if not room.is_owner(fold(str(client.name))):
            raise NotOwner(f"only the owner of {room.name} can change its mode.")
        room.invite_only = words[1] == "+i"
        self._save_room(room)
        self._tell(
            room, RoomMode(self._now(), room.name, room.invite_only, str(client.name))
        )

    def _target(self, args: str, usage: str) -> tuple[str, Room, str]:
        """
        C{NAME #room [REST]}: the name, the room, the rest.
        """
        words = args.split(None, 2)
        if len(words) < 2:
            raise BadUsage(f"usage: {usage}")
        return (
            words[0],
            self._room(check_room(words[1])),
            (words[2].strip() if len(words) > 2 else ""),
        )

    def _moderator(self, client: IChatClient, room: Room) -> str:
        key = fold(str(client.name))
        if client not in room.online:
            raise NotInRoom(room.name)
        if not room.may_moderate(key):
            raise NotOperator(
                f"only the owner and operators of {room.name} can do that."
            )
        return key

    def command_invite(self, client: IChatClient, args: str) -> None:
        """
        C{/invite NAME #room}.
        """
        target, room, _ = self._target(args, "/invite NAME #room")
        self._moderator(client, room)
        key = fold(target)
        try:
            invitee: IChatClient | None = self._d.registry.lookup(target)
        except NoSuchUser:
            invitee = None
            if not self._registered(key):
                raise
        if room.is_member(key):
            raise BadUsage(f"{target} is already in {room.name}.")
        shown = str(invitee.name) if invitee is not None else self._d.accounts[key]
        if self._registered(key):
            room.invited.add(key)
            self._persist("an invitation", self._d.store.save_invite, room.key, key)
        else:
            self.rooms.invite_guest(key, room)
        now = self._now()
        if invitee is not None:
            invitee.deliver(RoomInvite(now, room.name, str(client.name)))
        client.deliver(RoomInvited(now, room.name, shown))

    def command_kick(self, client: IChatClient, args: str) -> None:
        """
        C{/kick NAME #room [REASON]}.
        """
        target, room, reason = self._target(args, "/kick NAME #room [REASON]")
        mine = self._moderator(client, room)
        key, kicked, shown = self._member(room, target)
        if room.is_owner(key):
            raise NotOwner(f"nobody can kick the owner of {room.name}.")
        if key in room.operators and not room.is_owner(mine):
            raise NotOwner(f"only the owner of {room.name} can kick an operator.")
        event = RoomLeft(
            self._now(), room.name, shown, reason or None, str(client.name)
        )
        self._tell(room, event)
        self._end_membership(room, kicked, key)

    def _member(self, room: Room, target: str) -> tuple[str, IChatClient | None, str]:
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
        return key, None, self._d.accounts.get(key, target)

    def command_op(self, client: IChatClient, args: str) -> None:
        """
        C{/op NAME #room}: make a member an operator.
        """
        self._op(client, args, True)

    def command_deop(self, client: IChatClient, args: str) -> None:
        """
        C{/deop NAME #room}: stop a member being an operator.
        """
        self._op(client, args, False)

    def _op(self, client: IChatClient, args: str, op: bool) -> None:
        target, room, _ = self._target(args, f"/{'op' if op else 'deop'} NAME #room")
        if client not in room.online:
            raise NotInRoom(room.name)
        if not room.is_owner(fold(str(client.name))):
            raise NotOwner(f"only the owner of {room.name} can name operators.")
        key, _, shown = self._member(room, target)
        if op:
            room.operators.add(key)
        else:
            room.operators.discard(key)
        if key in room.registered:
            self._persist(
                "a membership",
                self._d.store.save_member,
                room.key,
                key,
                op,
                room.registered[key],
            )
        self._tell(room, RoomOp(self._now(), room.name, shown, str(client.name), op))

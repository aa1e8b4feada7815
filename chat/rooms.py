# -*- test-case-name: tests.test_rooms -*-
"""
Rooms: who is in which, and who may do what there.

Plain synchronous state, like L{chat.registry}: the dispatcher decides,
tells clients and asks the store to remember; nothing here touches a
transport or waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from chat.commands import fold
from chat.registry import IChatClient
from chat.store import RoomRecord


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
    online: dict[IChatClient, str] = field(default_factory=dict)
    _clients: tuple[IChatClient, ...] | None = field(default=None, repr=False)
    _by_key: dict[str, IChatClient] = field(default_factory=dict, repr=False)

    def clients(self) -> tuple[IChatClient, ...]:
        """
        The members online, as a tuple kept between membership changes: a
        message to the room costs no copy, and a delivery that ends a
        connection (which leaves the room) cannot upset the loop over it.
        """
        clients = self._clients
        if clients is None:
            clients = self._clients = tuple(self.online)
        return clients

    def add(self, client: IChatClient, key: str) -> None:
        self.online[client] = key
        self._by_key[key] = client
        self._clients = None

    def remove(self, client: IChatClient) -> None:
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

    def client_of(self, key: str) -> IChatClient | None:
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
        self._of_client: dict[IChatClient, list[Room]] = {}
        # Registered member key -> the rooms it belongs to.
        self._of_account: dict[str, set[Room]] = {}
        # Guest name key -> rooms it was invited to (gone when it leaves).
        self._guest_invites: dict[str, set[Room]] = {}

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
                operators={k for k, (op, _) in record.members.items() if op},
                invited=set(record.invites),
                registered={k: seen for k, (_, seen) in record.members.items()},
            )
            self._rooms[room.key] = room
            for key in room.registered:
                self._of_account.setdefault(key, set()).add(room)

    def get(self, name: str) -> Room | None:
        return self._rooms.get(fold(name))

    def create(self, room: Room) -> None:
        self._rooms[room.key] = room

    def discard(self, room: Room) -> None:
        if self._rooms.get(room.key) is room:
            del self._rooms[room.key]
        for key in room.invited:
            self._uninvite_guest(key, room)

    def __iter__(self) -> Iterator[Room]:
        return iter(self._rooms.values())

    def __len__(self) -> int:
        return len(self._rooms)

    def rooms_of(self, client: IChatClient) -> list[Room]:
        return self._of_client.get(client, [])

    def rooms_of_account(self, key: str) -> set[Room]:
        return self._of_account.get(key, set())

    def enter(self, room: Room, client: IChatClient, key: str) -> None:
        """
        C{client} (called C{key}) is online in C{room}.
        """
        room.add(client, key)
        self._of_client.setdefault(client, []).append(room)

    def exit(self, room: Room, client: IChatClient) -> None:
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

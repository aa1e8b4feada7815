# -*- test-case-name: tests.test_registry -*-
"""
Who is online: the seam between the chat core and its front ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, ValuesView

from zope.interface import Attribute, Interface

from chat.commands import check_name, fold
from chat.errors import NameInUse, NoSuchUser
from chat.events import Event


class IChatClient(Interface):
    """
    One connected user, as the chat core sees it.

    Front ends (the line protocol, later a WebSocket or another node)
    provide this; the core never touches a transport.
    """

    name = Attribute("The accepted name (as typed), or None before joining.")
    secure = Attribute("Whether the connection is encrypted (TLS).")
    peer = Attribute("The client's address, for throttling: a host, no port.")
    binary = Attribute(
        "Whether the client can take raw file chunks (JSON mode): text-mode"
        " users are only told that a file waits."
    )
    acknowledges = Attribute(
        "Whether the client confirms stored messages itself (/ack); if not,"
        " they count as delivered once written to a connection that then"
        " stays open or closes cleanly."
    )

    def deliver(event: Event) -> None:
        """
        Send C{event} to this client, rendered in its own format.
        """

    def set_mode(mode: str) -> None:
        """
        Switch the client's output format.

        @raise chat.errors.BadUsage: if C{mode} is not one it supports.
        """

    def disconnect() -> None:
        """
        Close the connection after what was already delivered.
        """

    def hold() -> None:
        """
        Keep events delivered from now on until L{release}: the client is
        being caught up (history, stored messages) and live traffic must
        come after that.
        """

    def release(first: Sequence[Event]) -> None:
        """
        Deliver C{first}, then whatever was held, and stop holding.
        """


class UserRegistry:
    """
    Map names to connected clients.

    Names are unique case-insensitively and displayed as first typed.  Plain
    synchronous code: lookups happen on the hot path.
    """

    def __init__(self) -> None:
        self._clients: dict[str, IChatClient] = {}
        self._snapshot: tuple[IChatClient, ...] | None = None

    def check(self, name: str) -> str:
        """
        Whether C{name} could be given to someone now.

        @return: C{name}'s key.
        @raise chat.errors.InvalidName: if C{name} breaks the naming rules.
        @raise NameInUse: if someone online holds C{name}.
        """
        check_name(name)
        key = fold(name)
        if key in self._clients:
            raise NameInUse(f"the name {name} is already taken; please choose another.")
        return key

    def add(self, name: str, client: IChatClient) -> None:
        """
        Give C{name} to C{client}.

        @raise chat.errors.InvalidName: if C{name} breaks the naming rules.
        @raise NameInUse: if someone online holds C{name}.
        """
        check_name(name)
        key = fold(name)
        if key == name:
            key = name  # one string per user, not two, when already folded
        if key in self._clients:
            raise NameInUse(f"the name {name} is already taken; please choose another.")
        self._clients[key] = client
        self._snapshot = None
        client.name = name

    def remove(self, client: IChatClient) -> bool:
        """
        Free C{client}'s name, if it holds one.

        @return: whether C{client} was online.
        """
        name = client.name
        if name is None:
            return False
        key = fold(name)
        if self._clients.get(key) is not client:
            return False
        del self._clients[key]
        self._snapshot = None
        return True

    def lookup(self, name: str) -> IChatClient:
        """
        @raise NoSuchUser: if nobody online holds C{name}.
        """
        try:
            return self._clients[fold(name)]
        except KeyError:
            raise NoSuchUser(name) from None

    def names(self) -> list[str]:
        """
        The names online, sorted case-insensitively.
        """
        return sorted((str(c.name) for c in self._clients.values()), key=fold)

    def snapshot(self) -> tuple[IChatClient, ...]:
        """
        The clients online as a tuple kept until someone joins or leaves:
        a broadcast needs no copy, and a delivery that ends a connection
        (which leaves the registry) cannot upset the loop over it.
        """
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = self._snapshot = tuple(self._clients.values())
        return snapshot

    def clients(self) -> ValuesView[IChatClient]:
        """
        A live view of the clients online; copy it before changing membership.
        """
        return self._clients.values()

    def __iter__(self) -> Iterator[IChatClient]:
        return iter(self._clients.values())

    def __len__(self) -> int:
        return len(self._clients)

    def __contains__(self, client: object) -> bool:
        name = getattr(client, "name", None)
        return name is not None and self._clients.get(fold(name)) is client

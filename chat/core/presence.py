# -*- test-case-name: tests.core.test_presence -*-
"""
Who is online: the L{IPresence} seam and L{LocalPresence}, its in-process
implementation.

A server of several nodes would implement L{IPresence} on a shared
registry (Redis, say): names are claimed there, and L{IPresence.lookup}
returns a stand-in whose connection publishes to the node the user is on.
"""

from __future__ import annotations

from zope.interface import Interface, implementer

from chat.core.client import Client
from chat.core.names import Lookalikes, check_name, fold
from chat.errors import LookalikeName, NameInUse, NoSuchUser


class IPresence(Interface):
    """
    The names online and who holds each.
    """

    def check(name: str) -> str:
        """
        Whether C{name} could be given to someone now.

        @return: C{name}'s key.
        @raise chat.errors.InvalidName: if C{name} breaks the naming rules.
        @raise chat.errors.NameInUse: if someone online holds C{name}.
        @raise chat.errors.LookalikeName: if C{name} looks like a name
            someone online holds.
        """

    def claim(name: str, client: Client) -> None:
        """
        Give C{name} to C{client}, setting its C{name} (as shown:
        L{chat.core.names.check_name}) and C{key}.

        @raise chat.errors.InvalidName: if C{name} breaks the naming rules.
        @raise chat.errors.NameInUse: if someone online holds C{name}.
        @raise chat.errors.LookalikeName: if C{name} looks like a name
            someone online holds.
        """

    def release(client: Client) -> bool:
        """
        Free C{client}'s name, if it holds one.

        @return: whether C{client} was online.
        """

    def lookup(name: str) -> Client:
        """
        @raise chat.errors.NoSuchUser: if nobody online holds C{name}.
        """

    def find(key: str) -> Client | None:
        """
        Who holds the name C{key}, if anyone.
        """

    def names() -> list[str]:
        """
        The names online, sorted case-insensitively.
        """

    def everyone() -> tuple[Client, ...]:
        """
        The clients online, as a tuple kept until someone joins or leaves:
        a broadcast needs no copy, and a delivery that ends a connection
        (which leaves) cannot upset the loop over it.
        """

    def __len__() -> int:
        """
        How many are online.
        """


@implementer(IPresence)
class LocalPresence:
    """
    The names online in this process.

    Names are unique by key (L{fold}) and displayed as first typed (in
    their normal form); no two names online look alike (L{Lookalikes}).
    Plain synchronous code: lookups happen on the hot path.
    """

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}
        self._everyone: tuple[Client, ...] | None = None
        # The skeletons of the names online, kept in step with _clients.
        self._lookalikes = Lookalikes()
        # The name last found well formed, and how it is shown: a guest's
        # login checks its name, then claims it, and a login costs one
        # check, not two.
        self._checked: tuple[str, str] | None = None

    def _free(self, name: str) -> tuple[str, str]:
        """
        C{name} as shown and its key, if nobody online holds it or a name
        like it.
        """
        checked = self._checked
        if checked is not None and checked[0] is name:
            shown = checked[1]
        else:
            shown = check_name(name)
            self._checked = (name, shown)
        key = fold(shown)
        if key in self._clients:
            raise NameInUse(f"the name {name} is already taken; please choose another.")
        other = self._lookalikes.find(shown, key)
        if other is not None:
            raise LookalikeName(name, other, "online")
        return shown, key

    def check(self, name: str) -> str:
        return self._free(name)[1]

    def claim(self, name: str, client: Client) -> None:
        shown, key = self._free(name)
        if key == shown:
            key = shown  # one string per user, not two, when already folded
        self._clients[key] = client
        self._lookalikes.add(key, shown)
        self._everyone = None
        client.name = shown
        client.key = key

    def release(self, client: Client) -> bool:
        key = client.key
        if key is None or self._clients.get(key) is not client:
            return False
        del self._clients[key]
        self._lookalikes.discard(key)
        self._everyone = None
        return True

    def lookup(self, name: str) -> Client:
        try:
            return self._clients[fold(name)]
        except KeyError:
            raise NoSuchUser(name) from None

    def find(self, key: str) -> Client | None:
        return self._clients.get(key)

    def names(self) -> list[str]:
        return sorted((str(c.name) for c in self._clients.values()), key=fold)

    def everyone(self) -> tuple[Client, ...]:
        everyone = self._everyone
        if everyone is None:
            everyone = self._everyone = tuple(self._clients.values())
        return everyone

    def __len__(self) -> int:
        return len(self._clients)

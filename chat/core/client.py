# -*- test-case-name: tests.core.test_delivery -*-
"""
One connected client as the chat core sees it (L{Client}), and the seam
to the door that carries it (L{IConnection}).

A door opens a L{chat.core.session.Session} (a L{Client} with the typed
request API) for each connection and implements L{IConnection} for it:
the core tells it events, and when to stop and start reading.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final

from twisted.internet.interfaces import IDelayedCall
from zope.interface import Interface

from chat.events import Event


class State(enum.Enum):
    """
    Where a client is in its login, which the core tracks for every door.
    """

    #: It has no name yet: the next thing it gives is a name.
    NAMELESS = "nameless"
    #: It asked for a registered name: the next thing it gives is a password.
    PASSWORD = "password"
    #: Its password is being checked.
    LOGGING_IN = "logging-in"
    ONLINE = "online"
    CLOSED = "closed"


# The states by name: looking an Enum member up on its class costs several
# times a global's, and a state is checked on every request.
NAMELESS: Final = State.NAMELESS
PASSWORD: Final = State.PASSWORD
LOGGING_IN: Final = State.LOGGING_IN
ONLINE: Final = State.ONLINE
CLOSED: Final = State.CLOSED


class Batch:
    """
    Events fanned out together to many clients (the broadcasts of one
    turn to the same audience, or one client's catch-up): a door renders
    it once per output format and hands every recipient the same bytes.
    """

    __slots__ = ("events",)

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = events


class IConnection(Interface):
    """
    The door's side of one client connection; C{str()} of it says where it
    comes from, as the logs show it (made only when a line is logged).
    """

    def deliver(event: Event) -> None:
        """
        Send C{event} to the client.
        """

    def deliver_batch(batch: Batch, skip: Sequence[int] | None) -> None:
        """
        Send the events of C{batch} in order, leaving out those whose
        indexes are in C{skip} (ascending): the recipient's own messages.
        """

    def pause_input() -> None:
        """
        Act on no more of the client's input until L{resume_input}: the
        session is carrying out a request that waits (the store, a
        password check) or has done its share for this turn.  The door
        keeps what it has read, and may stop reading.
        """

    def resume_input() -> None:
        """
        Go on acting on the client's input.
        """

    def discard_input() -> bool:
        """
        Drop the input the client sent ahead that the door holds unread
        (a step of its login was refused: what it pipelined after it, a
        password say, must never be read as a name or a message).  A line
        the door holds in part is dropped up to its end; what the door
        reads from the connection later is new input.

        @return: whether anything was dropped.
        """

    def close() -> None:
        """
        Close the connection once what was delivered is sent; what is
        delivered after this is not sent (at shutdown, the departures of
        the others would otherwise follow the notice).
        """

    def abort() -> None:
        """
        Drop the connection now: it holds more than it may.
        """


class Client:
    """
    The core's state for one connection: who it is and where it is in its
    login.  Plain attributes (slots): they are read on the hot path.

    What the door knows when the connection opens is fixed then:

    @ivar peer: the client's address, for throttling: a host, no port.
    @ivar secure: whether the connection is encrypted (TLS).
    @ivar acknowledges: the client confirms stored messages itself
        (C{/ack}); if not, they count as delivered once sent to a
        connection that then stays open, sends again or closes cleanly.
        A door may learn it until the login
        (L{chat.core.session.Session.set_acknowledges}).
    @ivar exempt: it comes from a network the operator exempted from the
        per-address and flood limits (C{--exempt}).

    What the core tracks:

    @ivar name: the name it has online, as typed.
    @ivar key: that name folded (L{chat.core.names.fold}).
    @ivar asked: the registered name whose password it is asked for.
    @ivar held: events kept for it while it is caught up at login, or
        L{None} (see L{chat.core.delivery.Delivery.hold}).
    @ivar unconfirmed: the stored messages sent to it that are not yet
        counted as delivered, and the call that will count them.
    @ivar since: the history id it said it has everything up to (resume,
        issue 16): the login's replay starts after it.
    @ivar away_reason: its C{/away} reason, or L{None} while it is not away.
    @ivar away_told: the keys of the senders of private messages told
        that it is away since it went away (each is told once).
    """

    __slots__ = (
        "acknowledges",
        "asked",
        "away_reason",
        "away_told",
        "connection",
        "exempt",
        "held",
        "key",
        "name",
        "peer",
        "secure",
        "since",
        "state",
        "unconfirmed",
    )

    def __init__(
        self,
        connection: IConnection,
        peer: str,
        *,
        secure: bool = False,
        acknowledges: bool = False,
        exempt: bool = False,
    ) -> None:
        self.connection = connection
        self.peer = peer
        self.secure = secure
        self.acknowledges = acknowledges
        self.exempt = exempt
        self.name: str | None = None
        self.key: str | None = None
        self.state = NAMELESS
        self.asked: str | None = None
        self.held: list[Event] | None = None
        self.unconfirmed: tuple[list[int], IDelayedCall] | None = None
        # Resume (issue 16): the history id the client has everything up
        # to, said before its name, or None.
        self.since: int | None = None
        # Mentions and away (issue 16, "mentions").
        self.away_reason: str | None = None
        self.away_told: set[str] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or self.peer} {self.state.value}>"

    def discard_input(self) -> bool:
        """
        Drop what the client sent ahead and is not yet carried out
        (L{IConnection.discard_input}).

        @return: whether anything was dropped.
        """
        return bool(self.connection.discard_input())

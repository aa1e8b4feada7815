# -*- test-case-name: tests.lines.test_protocol -*-
"""
What one connection of the line door writes: at once or gathered for the
end of the turn, and never more than the peer reads plus a bound.
"""

from __future__ import annotations

from typing import Final, Protocol

from twisted.internet.interfaces import IPushProducer, ITransport
from twisted.logger import Logger
from zope.interface import implementer

from chat.core.delivery import Delivery
from chat.lines._socket import discard_output, is_socket, pending_output, send_now

_log: Final = Logger(namespace="chat.lines.output")

#: Twisted's C{FileDescriptor.bufferSize}: where it would pause a producer.
HIGH_WATER: Final = 64 * 1024


class Owner(Protocol):
    """
    The connection an L{Output} writes for.
    """

    def overflowed(self) -> None:
        """
        Its peer stopped reading and too much output waits: drop it.
        """


class Outputs:
    """
    What the outputs of one door share: the send-queue limit, and which
    of them gathered something in this turn, so that a turn costs one
    end-of-turn call, not one per connection.

    @ivar limit: bytes of output that may wait for a peer that stopped
        reading, beyond what its socket holds, before it is dropped.
    @ivar gathered: the outputs that gathered something in this turn;
        L{Output.gather} adds itself (on the hot path of every fan-out, so
        without a call) and calls L{schedule} when it is the first.
    """

    def __init__(self, delivery: Delivery, limit: int) -> None:
        self._delivery = delivery
        self.limit = limit
        self.gathered: list[Output] = []

    def schedule(self) -> None:
        """
        The first output gathered something in this turn: write at its end.
        """
        self._delivery.at_end_of_turn(self.write)

    def write(self) -> None:
        """
        The end of the turn: each output writes what it gathered.
        """
        outputs, self.gathered = self.gathered, []
        for output in outputs:
            output.flush()


@implementer(IPushProducer)
class Output:
    """
    The bytes one connection is sent.

    A write goes straight to the socket (L{send_now}) unless something is
    gathered for the end of this turn already, so the order is kept; what
    a fan-out hands it is gathered, and the turn's gathered bytes go out in
    one write when L{Delivery} ends the turn (L{Outputs.write}).  On the
    TLS layer (L{chat.lines.tls}) every write is gathered: one record per
    connection per turn.

    If the peer stops reading, the transport pauses us as a producer; once
    more than C{limit} bytes pile up on top of the transport's own buffer,
    its owner is told it L{Owner.overflowed}, so one stuck client
    cannot make the server hold unbounded output.  On plain sockets we
    register as the producer only once the periodic L{check} finds output
    piling up: a registered producer costs a check on every write, the
    broadcast hot path.

    @ivar paused: the transport asked us to stop producing.
    """

    __slots__ = (
        "_backlog",
        "_direct",
        "_gathers",
        "_out",
        "_outputs",
        "_overflowed",
        "_owner",
        "_registered",
        "_transport",
        "paused",
        "watched",
    )

    def __init__(self, transport: ITransport, outputs: Outputs, owner: Owner) -> None:
        self._transport = transport
        self._outputs = outputs
        self._owner = owner
        self.paused = False
        # Output gathered during this turn, written once at its end (None:
        # nothing gathered yet): an idle connection holds no list.
        self._out: list[bytes] | None = None
        self._registered = False
        self._backlog = 0
        self._overflowed = False
        # A socket is written with send_now, and watched by the periodic
        # check; other transports (TLS) tell us at once.
        self._direct = is_socket(transport)
        # The TLS layer (chat.lines.tls) asks that every write wait for the
        # end of the turn: one record per turn.
        self._gathers: bool = getattr(transport, "gathers", False)
        self.watched = pending_output(transport) is not None
        if not self.watched:
            self._register()

    def write(self, data: bytes) -> None:
        """
        Send C{data} after what was gathered before it.
        """
        if self._gathers:
            self.gather(data)
            return
        if self.paused and self._over_limit(len(data)):
            return
        out = self._out
        if out is not None:
            out.append(data)
        elif self._direct:
            send_now(self._transport, data)
        else:
            self._transport.write(data)

    def gather(self, data: bytes) -> None:
        """
        Send C{data} with the rest of this turn's output, in one write at
        its end.
        """
        if self.paused and self._over_limit(len(data)):
            return
        out = self._out
        if out is None:
            out = self._out = []
            gathered = self._outputs.gathered
            if not gathered:
                self._outputs.schedule()
            gathered.append(self)
        out.append(data)

    def flush(self) -> None:
        """
        Write what this turn gathered, in one piece.
        """
        out, self._out = self._out, None
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            if self._direct:
                send_now(self._transport, data)
            else:
                self._transport.write(data)

    def last_words(self, data: bytes, separator: bytes) -> None:
        """
        Write C{data} past the limit: the line that tells a peer that
        stopped reading why it is dropped.  What this turn gathered for
        it is dropped, as everything after; on a socket so is what the
        transport holds unsent, so that the line follows only what the
        kernel took (after C{separator}, since that may end within a
        line).  Elsewhere (TLS) it follows everything written.
        """
        self._out = None
        self._overflowed = True
        if discard_output(self._transport):
            data = separator + data
        self._transport.write(data)

    def drop(self) -> None:
        """
        The connection is gone: forget what was gathered.
        """
        self._out = None

    def _over_limit(self, size: int) -> bool:
        """
        Whether C{size} more bytes for a paused connection would pass the
        limit (and so it was dropped).  On a socket that is what it holds
        unsent, beyond the write buffer: a client that reads, but slower
        than it asks (file chunks), keeps the transport paused for long and
        must not be taken for one that stopped.  Elsewhere (TLS) it is what
        was sent since the transport paused.
        """
        if self._overflowed:
            return True
        over: bool
        pending = pending_output(self._transport) if self.watched else None
        if pending is not None:
            over = pending + size > self._outputs.limit + HIGH_WATER
        else:
            self._backlog += size
            over = self._backlog > self._outputs.limit
        if over:
            self._overflowed = True
            self._owner.overflowed()
        return over

    # The periodic check of sockets.

    def _register(self) -> None:
        self._transport.registerProducer(self, True)  # type: ignore[attr-defined]
        self._registered = True

    def check(self) -> None:
        """
        Become the transport's producer while more than L{HIGH_WATER}
        bytes wait unsent, and stop being it once they are gone; past the
        limit, drop the connection, even if nothing more is written to it.
        """
        pending = pending_output(self._transport)
        if pending is None:
            return
        if pending > self._outputs.limit + HIGH_WATER and not self._overflowed:
            self._overflowed = True
            self._owner.overflowed()
            return
        if not self._registered:
            if pending > HIGH_WATER:
                # The transport pauses us on its next write.
                self._register()
        elif pending == 0 and not self.paused:
            self._transport.unregisterProducer()  # type: ignore[attr-defined]
            self._registered = False

    # IPushProducer: the transport tells us when the peer is not reading.
    # Input is not paused in turn: TLS pauses its producer until the
    # handshake is done, and a handshake needs the peer's bytes to be read.

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._backlog = 0

    def stopProducing(self) -> None:
        self.paused = True

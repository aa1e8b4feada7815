# -*- test-case-name: tests.core.test_delivery -*-
"""
How events reach clients, the same for every door: the broadcasts of a
reactor turn are fanned out together at its end, and nothing a client is
sent overtakes a broadcast made before it.

This is what makes a busy turn cheap.  Broadcasts to the same audience in
one turn become one L{Batch}: a door renders it once per output format and
hands every recipient the same bytes, and a sender gets the batch less its
own messages.  Everything else a client is sent goes through L{send},
which first fans out what is waiting, so the order every client sees is
the order of events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from chat.core.client import CLOSED, Batch, Client
from chat.events import Event

_log: Final = Logger(namespace="chat.core.delivery")

# One broadcast waiting for the end of the turn: the event, its audience
# (a tuple kept by whoever owns the audience, so that broadcasts to the
# same audience are found by identity), and its sender or None.
_Pending = tuple[Event, tuple[Client, ...], Client | None]


class Delivery:
    """
    Per-turn batching of broadcasts and per-client ordering.

    @ivar turn: how many turns ended; a client's requests are counted per
        turn (L{chat.core.session.Session}).
    """

    def __init__(self, clock: IReactorTime, *, hold_max: int = 10_000) -> None:
        self._clock = clock
        self.hold_max = hold_max
        self.turn = 0
        self._pending: list[_Pending] = []
        self._end_call: IDelayedCall | None = None
        # Called at the end of the turn, after its broadcasts: doors write
        # what they gathered for their connections.
        self._writers: list[Callable[[], object]] = []
        # Called once the turn is over: sessions that did their share.
        self._next: list[Callable[[], object]] = []

    # Sending.

    def send(self, client: Client, event: Event) -> None:
        """
        Send C{event} to C{client}, after the broadcasts made before it.
        """
        if self._pending:
            self.flush()
        held = client.held
        if held is not None:
            self._keep(client, held, (event,))
            return
        client.connection.deliver(event)

    def broadcast(
        self, event: Event, audience: tuple[Client, ...], sender: Client | None
    ) -> None:
        """
        Send C{event} to every client of C{audience} but C{sender}, at the
        end of the turn with the turn's other broadcasts.

        @param audience: must not change afterwards: the presence and the
            rooms hand out tuples that they replace, never change.
        """
        self._pending.append((event, audience, sender))
        if self._end_call is None:
            self._end_call = self._clock.callLater(0, self.end_turn)

    def hold(self, client: Client) -> None:
        """
        Keep what C{client} is sent from now on until L{release}: it is
        being caught up (history, stored messages) and live traffic comes
        after that.  What was broadcast before reaches it first.
        """
        if self._pending:
            self.flush()
        client.held = []

    def release(self, client: Client, first: Sequence[Event]) -> None:
        """
        Send C{client} the catch-up C{first}, then what was kept for it,
        and stop keeping.
        """
        # This turn's broadcasts so far belong after the catch-up: fan
        # them out while the client is still held.
        if self._pending:
            self.flush()
        held, client.held = client.held, None
        if client.state is CLOSED:
            return
        events = [*first, *held] if held else list(first)
        if events:
            client.connection.deliver_batch(Batch(events), None)

    def _keep(self, client: Client, held: list[Event], events: Sequence[Event]) -> None:
        held.extend(events)
        if len(held) > self.hold_max and len(held) - len(events) <= self.hold_max:
            _log.warn(
                "dropping {client}: over {limit} events piled up while it "
                "was caught up",
                client=client,
                limit=self.hold_max,
            )
            client.connection.abort()

    # The end of the turn.

    def flush(self) -> None:
        """
        Fan out this turn's broadcasts now: into what doors gather for the
        end of the turn, or into what held clients keep.
        """
        pending = self._pending
        if not pending:
            return
        self._pending = []
        start, end = 0, len(pending)
        while start < end:
            audience = pending[start][1]
            stop = start + 1
            while stop < end and pending[stop][1] is audience:
                stop += 1
            if stop == start + 1:
                self._fan_out_one(pending[start])
            else:
                self._fan_out_run(pending[start:stop])
            start = stop

    def _fan_out_one(self, pending: _Pending) -> None:
        event, audience, sender = pending
        batch = Batch((event,))
        for client in audience:
            if client is sender:
                continue
            held = client.held
            if held is None:
                client.connection.deliver_batch(batch, None)
            else:
                self._keep(client, held, batch.events)

    def _fan_out_run(self, run: Sequence[_Pending]) -> None:
        """
        Several broadcasts to the same audience, in order: one batch, which
        each sender gets less its own messages.
        """
        events = [event for event, _, _ in run]
        own: dict[Client, list[int]] = {}
        for index, (_, _, sender) in enumerate(run):
            if sender is not None:
                own.setdefault(sender, []).append(index)
        batch = Batch(events)
        count = len(events)
        for client in run[0][1]:
            skip = own.get(client)
            if skip is not None and len(skip) == count:
                continue
            held = client.held
            if held is None:
                client.connection.deliver_batch(batch, skip)
            elif skip is None:
                self._keep(client, held, events)
            else:
                mine = set(skip)
                self._keep(
                    client, held, [e for i, e in enumerate(events) if i not in mine]
                )

    def at_end_of_turn(self, writer: Callable[[], object]) -> None:
        """
        Call C{writer} at the end of this turn, once its broadcasts are
        fanned out: a door writes what it gathered for a connection.
        """
        self._writers.append(writer)
        if self._end_call is None:
            self._end_call = self._clock.callLater(0, self.end_turn)

    def next_turn(self, resume: Callable[[], object]) -> None:
        """
        Call C{resume} once this turn is over and its output written.
        """
        self._next.append(resume)
        if self._end_call is None:
            self._end_call = self._clock.callLater(0, self.end_turn)

    def end_turn(self) -> None:
        """
        The end of the turn: fan out its broadcasts, let the doors write,
        then start the next turn.
        """
        # Fanned out first, so that doors gather it into this turn (the
        # call is still set, so gathering does not ask for another).
        self.flush()
        call, self._end_call = self._end_call, None
        if call is not None and call.active():
            call.cancel()
        writers, self._writers = self._writers, []
        for writer in writers:
            writer()
        self.turn += 1
        resumed, self._next = self._next, []
        for resume in resumed:
            resume()
        if self._pending and self._end_call is None:
            # Broadcast while this turn's were fanned out (a client dropped
            # for not reading leaves): they go out at the end of the next.
            self._end_call = self._clock.callLater(0, self.end_turn)

# -*- test-case-name: tests.lines.test_protocol -*-
"""
L{ChatFactory}: the line door's shared state, one for every listener
(plain TCP and TLS alike), on one L{ChatCore}.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import Final

from twisted.internet.protocol import ServerFactory
from twisted.internet.task import LoopingCall

from chat.core.client import Batch
from chat.core.core import ChatCore
from chat.core.mentions import MentionIndex
from chat.lines.commands import SlashCommands
from chat.lines.output import Output, Outputs
from chat.lines.protocol import ChatProtocol
from chat.lines.render import encode


class ChatFactory(ServerFactory[ChatProtocol]):
    """
    Builds a L{ChatProtocol} for each connection, with the settings, the
    render cache and the flow-control check they share.
    """

    protocol = ChatProtocol
    #: Seconds between two looks for peers that stopped reading.
    OUTPUT_CHECK_INTERVAL: Final = 0.5

    def __init__(
        self,
        core: ChatCore,
        *,
        max_line_length: int = 4096,
        send_queue_limit: int = 1024 * 1024,
        handshake_timeout: float = 10.0,
    ) -> None:
        """
        @param max_line_length: the longest line accepted, in bytes.
        @param send_queue_limit: bytes of output that may wait for a client
            that stopped reading before it is disconnected.
        @param handshake_timeout: seconds a TLS client has to finish its
            handshake before it is dropped (a stalled handshake holds tens
            of KiB).
        """
        self.core = core
        self.clock = core.clock
        self.commands = SlashCommands(core.limits)
        self.outputs = Outputs(core.delivery, send_queue_limit)
        self.max_line_length = max_line_length
        self.handshake_timeout = handshake_timeout
        self._watched: set[Output] = set()
        self._output_check = LoopingCall(self.check_output)
        self._output_check.clock = core.clock
        # The batch last rendered, and its renderings by key: a batch is
        # handed to all its recipients before the next one is made.
        # Read by every connection a batch is handed to.
        self.batch: Batch | None = None
        self.renderings: dict[str, bytes] = {}
        self._offsets: dict[str, list[int]] = {}
        # Mentions (issue 16): who the last batch a JSON connection was
        # handed mentions, found once for all its recipients.
        self._mentions_batch: Batch | None = None
        self._mentions: MentionIndex | None = None

    def startFactory(self) -> None:
        if not self._output_check.running:
            self._output_check.start(self.OUTPUT_CHECK_INTERVAL, now=False)

    def stopFactory(self) -> None:
        # What was gathered in the last turn goes out now, not never.
        self.core.delivery.end_turn()
        if self._output_check.running:
            self._output_check.stop()

    def buildProtocol(self, addr: object) -> ChatProtocol:
        # Not protocol.factory: the door is all it needs of us.
        return ChatProtocol(self)

    # Rendering batches once per format.

    def render(self, batch: Batch, key: str, mode: str, delimiter: bytes) -> bytes:
        if batch is not self.batch:
            self.batch = batch
            self.renderings.clear()
            if self._offsets:
                self._offsets.clear()
        data = self.renderings.get(key)
        if data is None:
            events = batch.events
            if len(events) == 1:
                data = encode(events[0], mode, delimiter)
            else:
                parts = [encode(event, mode, delimiter) for event in events]
                self._offsets[key] = list(accumulate(map(len, parts), initial=0))
                data = b"".join(parts)
            self.renderings[key] = data
        return data

    def without(self, key: str, data: bytes, skip: Sequence[int]) -> bytes:
        offsets = self._offsets[key]
        pieces = []
        start = 0
        for index in skip:
            pieces.append(data[start : offsets[index]])
            start = offsets[index + 1]
        pieces.append(data[start:])
        return b"".join(pieces)

    # Mentions (issue 16, "mentions").

    def mentioned(self, batch: Batch, key: str) -> list[int]:
        """
        The indexes of the events of C{batch} that mention the user
        C{key}: its words are indexed once, for all its recipients.
        """
        index = self._mentions
        if batch is not self._mentions_batch or index is None:
            index = self._mentions = MentionIndex(batch.events)
            self._mentions_batch = batch
        return index.of(key)

    def with_mentions(
        self,
        batch: Batch,
        key: str,
        data: bytes,
        skip: Sequence[int] | None,
        hits: Sequence[int],
        mode: str,
        delimiter: bytes,
    ) -> bytes:
        """
        The rendering C{data} of C{batch} (by C{key}) for one recipient:
        less the events in C{skip}, and with those in C{hits} rendered
        again as mentions of it.
        """
        events = batch.events
        if len(events) == 1:
            # (A sender is never handed its own message: skip is empty.)
            return encode(events[0], mode, delimiter, mention=True)
        offsets = self._offsets[key]
        mentioned = set(hits)
        pieces = []
        start = 0
        for index in sorted(mentioned.union(skip or ())):
            pieces.append(data[start : offsets[index]])
            if index in mentioned:
                pieces.append(encode(events[index], mode, delimiter, mention=True))
            start = offsets[index + 1]
        pieces.append(data[start:])
        return b"".join(pieces)

    # Peers that stopped reading.

    def watch(self, output: Output) -> None:
        self._watched.add(output)

    def unwatch(self, output: Output) -> None:
        self._watched.discard(output)

    def check_output(self) -> None:
        """
        Look for connections whose peers stopped reading.

        Every L{OUTPUT_CHECK_INTERVAL} seconds: about a microsecond per
        connection, against the per-write producer check it replaces.  A
        stuck peer can gain at most one interval of output before flow
        control takes over.
        """
        for output in self._watched:
            output.check()

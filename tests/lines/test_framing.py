"""
Tests for L{chat.lines.framing}: lines and chunks out of a byte stream,
whatever its segmenting.
"""

from __future__ import annotations

import re

from hypothesis import event, given
from hypothesis import strategies as st

from twisted.trial.unittest import SynchronousTestCase

from chat.lines.framing import TOO_LONG, Chunk, Frame, LineFramer, ending, whole_line

LIMIT = 8


#: Lines, up to and over the limit, with no end yet.
line_bodies = st.binary(max_size=LIMIT + 2).map(lambda b: b.translate(None, b"\n\x00"))
lf_lines = st.builds(bytes.__add__, line_bodies, st.sampled_from([b"\n", b"\r\n"]))
any_lines = st.builds(
    bytes.__add__, line_bodies, st.sampled_from([b"\n", b"\r\n", b"\x00"])
)

#: Reads of which a good share (a fifth) are one whole line: an LF- or
#: CRLF-ended line; a line ended every way, then another or any bytes; raw
#: bytes, which are seldom one line.  Both sides of L{whole_line} come often.
reads = st.one_of(
    lf_lines,
    st.builds(bytes.__add__, any_lines, st.one_of(lf_lines, st.binary(max_size=LIMIT))),
    st.binary(max_size=2 * LIMIT),
)


def frames(framer: LineFramer, *pieces: bytes) -> list[Frame]:
    """
    Feed C{pieces} one after the other and pull every frame there is.
    """
    out: list[Frame] = []
    for piece in pieces:
        framer.feed(piece)
        while (frame := framer.next()) is not None:
            out.append(frame)
    return out


def expected(stream: bytes, limit: int = LIMIT) -> list[Frame]:
    """
    What the framer gives for C{stream}, from its definition: lines end at
    LF or NUL, one CR before the end goes, a line over C{limit} bytes is
    L{TOO_LONG}; an unfinished last line only once it is over the limit.
    """
    *lines, rest = re.split(rb"\n|\x00", stream)
    out: list[Frame] = []
    for line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        out.append(TOO_LONG if len(line) > limit else line)
    if len(rest) > limit + 1:
        out.append(TOO_LONG)
    return out


def cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    """
    C{stream} cut at the offsets C{cuts} (in any order, any range).
    """
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(stream)]:
        pieces.append(stream[start:point])
        start = point
    return [p for p in pieces if p]


class LineTests(SynchronousTestCase):
    """
    Lines and their terminators.
    """

    def test_terminators(self) -> None:
        """
        LF, CRLF and NUL each end a line; the CR is not part of it.
        """
        framer = LineFramer(LIMIT)
        self.assertEqual(
            frames(framer, b"one\ntwo\r\nthree\x00four\r\x00"),
            [b"one", b"two", b"three", b"four"],
        )

    def test_first_terminator_kept(self) -> None:
        """
        The terminator of the first line is the one replies use; later
        lines do not change it.
        """
        for first, terminator in [
            (b"a\n", b"\n"),
            (b"a\r\n", b"\r\n"),
            (b"a\x00", b"\x00"),
            (b"a\r\x00", b"\x00"),
        ]:
            framer = LineFramer(LIMIT)
            self.assertIsNone(framer.terminator)
            frames(framer, first, b"b\r\n", b"c\x00")
            self.assertEqual(framer.terminator, terminator, first)

    def test_whole_line(self) -> None:
        """
        One whole LF-ended line is taken by L{whole_line} without a framer;
        anything else is refused by it.
        """
        self.assertEqual(whole_line(b"hi\r\n", LIMIT), b"hi")
        self.assertEqual(ending(b"hi\r\n"), b"\r\n")
        self.assertEqual(ending(b"hi\n"), b"\n")
        self.assertEqual(whole_line(b"x" * LIMIT + b"\n", LIMIT), b"x" * LIMIT)
        self.assertEqual(whole_line(b"x" * LIMIT + b"\r\n", LIMIT), b"x" * LIMIT)
        for data in (b"", b"a\nb\n", b"no end", b"x" * (LIMIT + 1) + b"\n", b"a\x00\n"):
            self.assertIsNone(whole_line(data, LIMIT), data)

    @given(reads)
    def test_whole_line_agrees(self, data: bytes) -> None:
        """
        Where L{whole_line} takes a read, a framer gives the same line, and
        the terminator it records is L{ending}'s.
        """
        line = whole_line(data, LIMIT)
        event("framer needed" if line is None else "whole line")
        if line is None:
            return
        framer = LineFramer(LIMIT)
        self.assertEqual(frames(framer, data), [line])
        self.assertEqual(framer.terminator, ending(data))
        self.assertTrue(framer.idle)

    def test_limit_inclusive(self) -> None:
        """
        A line of exactly the limit, with or without its CR, is a line;
        one byte more is too long.
        """
        framer = LineFramer(LIMIT)
        self.assertEqual(
            frames(framer, b"y" * LIMIT + b"\r\n", b"z" * (LIMIT + 1) + b"\n"),
            [b"y" * LIMIT, TOO_LONG],
        )

    def test_endless_line_not_buffered(self) -> None:
        """
        A line that never ends is refused once, as soon as it is over the
        limit, and its bytes are dropped as they come: the buffer stays
        bounded and the next line is read.
        """
        framer = LineFramer(LIMIT)
        out = frames(framer, b"a" * 5)
        out += frames(framer, b"a" * 5)
        self.assertEqual(out, [TOO_LONG])
        for _ in range(1000):
            self.assertEqual(frames(framer, b"a" * 100), [])
        self.assertEqual(frames(framer, b"aaa\nafter\n"), [b"after"])
        self.assertTrue(framer.idle)

    def test_clear(self) -> None:
        """
        L{LineFramer.clear} drops what is buffered.
        """
        framer = LineFramer(LIMIT)
        framer.feed(b"half")
        self.assertFalse(framer.idle)
        framer.clear()
        self.assertTrue(framer.idle)
        self.assertEqual(frames(framer, b"new\n"), [b"new"])

    @given(st.binary(max_size=200), st.lists(st.integers(0, 300), max_size=12))
    def test_any_segmenting(self, stream: bytes, cuts: list[int]) -> None:
        """
        However a stream is cut into reads, the frames are those of its
        definition (L{expected}), and the buffer never holds much more
        than a line.
        """
        framer = LineFramer(LIMIT)
        out: list[Frame] = []
        for piece in cut(stream, cuts):
            out += frames(framer, piece)
            self.assertLessEqual(len(framer._buffer) - framer._pos, 2 * LIMIT + 300)
        self.assertEqual(out, expected(stream))

    @given(
        st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\x00", b"\xff"]), max_size=60)
    )
    def test_terminator_soup(self, parts: list[bytes]) -> None:
        """
        Streams dense in CRs, LFs and NULs are split by the definition too,
        byte by byte as well as whole.
        """
        stream = b"".join(parts)
        self.assertEqual(frames(LineFramer(LIMIT), stream), expected(stream))
        self.assertEqual(frames(LineFramer(LIMIT), *parts), expected(stream))


class ChunkTests(SynchronousTestCase):
    """
    Raw bytes announced by the line before them.
    """

    def test_chunk_between_lines(self) -> None:
        """
        After L{LineFramer.expect_raw}, the next frame is exactly that many
        raw bytes, terminators and all; lines go on after them.
        """
        framer = LineFramer(LIMIT)
        framer.feed(b"/chunk\nab\ncd\x00ef\nnext\n")
        self.assertEqual(framer.next(), b"/chunk")
        framer.expect_raw(9)
        chunk = framer.next()
        assert isinstance(chunk, Chunk)
        self.assertEqual(chunk.data, b"ab\ncd\x00ef\n")
        self.assertEqual(framer.next(), b"next")
        self.assertIsNone(framer.next())

    def test_chunk_over_many_reads(self) -> None:
        """
        A chunk that arrives a byte at a time comes out whole, once.
        """
        framer = LineFramer(LIMIT)
        framer.expect_raw(100)
        self.assertFalse(framer.idle)
        data = bytes(range(100))
        for i in range(100):
            self.assertIsNone(framer.next())
            framer.feed(data[i : i + 1])
        chunk = framer.next()
        assert isinstance(chunk, Chunk)
        self.assertEqual(chunk.data, data)
        self.assertTrue(framer.idle)

    def test_chunk_longer_than_a_line(self) -> None:
        """
        The line limit does not apply to raw bytes.
        """
        framer = LineFramer(LIMIT)
        framer.expect_raw(10 * LIMIT)
        framer.feed(b"z" * (10 * LIMIT) + b"ok\n")
        chunk = framer.next()
        assert isinstance(chunk, Chunk)
        self.assertEqual(len(chunk.data), 10 * LIMIT)
        self.assertEqual(framer.next(), b"ok")

    @given(
        st.binary(min_size=1, max_size=100),
        st.binary(max_size=30),
        st.lists(st.integers(0, 200), max_size=8),
    )
    def test_chunk_any_segmenting(
        self, data: bytes, after: bytes, cuts: list[int]
    ) -> None:
        """
        However the chunk and what follows are cut into reads, the chunk
        comes out whole and the lines after it by the definition.
        """
        framer = LineFramer(LIMIT)
        framer.expect_raw(len(data))
        out: list[Frame] = []
        for piece in cut(data + after, cuts):
            framer.feed(piece)
            while (frame := framer.next()) is not None:
                out.append(frame)
        self.assertIsInstance(out[0], Chunk)
        self.assertEqual(out[0].data, data)  # type: ignore[union-attr]
        self.assertEqual(out[1:], expected(after))


class DiscardTests(SynchronousTestCase):
    """
    L{LineFramer.discard}: what a client sent ahead of a refused login step
    is dropped, a partial line up to its end; later bytes are new input
    (issue 15).
    """

    def test_lines_ahead(self) -> None:
        """
        The lines buffered and not yet given are dropped.
        """
        framer = LineFramer(LIMIT)
        framer.feed(b"name\npasswd\nmore\n")
        self.assertEqual(framer.next(), b"name")
        self.assertTrue(framer.discard())
        self.assertIsNone(framer.next())
        self.assertTrue(framer.idle)
        self.assertEqual(frames(framer, b"later\n"), [b"later"])

    def test_nothing_ahead(self) -> None:
        """
        With nothing buffered there is nothing to drop, and the next bytes
        are read as they come.
        """
        framer = LineFramer(LIMIT)
        self.assertEqual(frames(framer, b"name\n"), [b"name"])
        self.assertFalse(framer.discard())
        self.assertEqual(frames(framer, b"later\n"), [b"later"])

    def test_partial_line(self) -> None:
        """
        A line buffered in part is dropped up to its end, which comes in a
        later read: none of it is read as a line.
        """
        framer = LineFramer(LIMIT)
        framer.feed(b"name\nHunter2")
        self.assertEqual(framer.next(), b"name")
        self.assertTrue(framer.discard())
        self.assertFalse(framer.idle)
        self.assertEqual(frames(framer, b"sec", b"ret\r\nnext\n"), [b"next"])

    def test_chunk_under_way(self) -> None:
        """
        The rest of a raw chunk under way is still given; the lines after
        it are dropped.
        """
        framer = LineFramer(LIMIT)
        framer.expect_raw(4)
        framer.feed(b"ab")
        self.assertIsNone(framer.next())
        framer.feed(b"cdline\n")
        self.assertTrue(framer.discard())
        chunk = framer.next()
        assert isinstance(chunk, Chunk)
        self.assertEqual(chunk.data, b"abcd")
        self.assertEqual(frames(framer, b"new\n"), [b"new"])

    @given(st.lists(lf_lines, max_size=4), st.binary(max_size=20), reads)
    def test_any_input(self, pulled: list[bytes], ahead: bytes, later: bytes) -> None:
        """
        Whatever was buffered ahead, nothing of it is given after a
        discard; what is fed later is framed from the end of the partial
        line, if any, on.
        """
        framer = LineFramer(LIMIT)
        framer.feed(b"".join(pulled) + ahead)
        for _ in pulled:
            self.assertIsNotNone(framer.next())
        self.assertEqual(framer.discard(), bool(ahead))
        if ahead and ahead[-1:] not in (b"\n", b"\x00"):
            end = re.search(rb"\n|\x00", later)
            later_lines = b"" if end is None else later[end.end() :]
        else:
            later_lines = later
        self.assertEqual(frames(framer, later), expected(later_lines))

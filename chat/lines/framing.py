# -*- test-case-name: tests.lines.test_framing -*-
"""
Framing for the line door: a byte stream into lines and raw chunks.

Pure: no Twisted, no I/O.  Most reads are one whole line, which
L{whole_line} takes as it is; for the rest the protocol makes a
L{LineFramer}, feeds it what it reads and pulls one frame at a time, so it
can stop pulling (while the core has it wait) and go on later with nothing
lost and nothing re-split.
"""

from __future__ import annotations

from typing import Final


class TooLong:
    """
    The frame for a line longer than the limit: it was discarded, up to
    its terminator.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = TooLong()


class Chunk:
    """
    The frame for raw bytes announced by the line before them.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Chunk({self.data!r})"


Frame = bytes | Chunk | TooLong


def whole_line(data: bytes, max_length: int) -> bytes | None:
    """
    The common case, checked cheaply: if C{data} is exactly one whole line
    ended by LF (or CRLF), within C{max_length}, that line without its
    end; else L{None}, and a L{LineFramer} must split it.
    """
    if (
        data.find(b"\n") == len(data) - 1 >= 0
        and len(data) <= max_length + 2
        and b"\x00" not in data
    ):
        line = data[:-1]
        if line[-1:] == b"\r":
            line = line[:-1]
        if len(line) <= max_length:
            return line
    return None


def ending(line: bytes) -> bytes:
    """
    How C{line}, a whole line with its end, ends: C{b"\r\n"} or C{b"\n"}.
    """
    return b"\r\n" if line[-2:] == b"\r\n" else b"\n"


class LineFramer:
    """
    Split a byte stream into lines ended by LF, CRLF or NUL, whatever the
    segmenting.

    A line is given without its terminator (and without one CR before an
    LF or a NUL).  A line longer than C{max_length} bytes is given as
    L{TOO_LONG} and its bytes are dropped as they arrive, never buffered.
    After L{expect_raw}, the next frame is the given number of raw bytes.

    @ivar terminator: the terminator of the first line (C{b"\\r\\n"},
        C{b"\\n"} or C{b"\\x00"}), or L{None} before it: replies use it.
    """

    __slots__ = (
        "_buffer",
        "_discarding",
        "_nul",
        "_pos",
        "_raw_left",
        "_raw_parts",
        "max_length",
        "terminator",
    )

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.terminator: bytes | None = None
        self._buffer = b""
        self._pos = 0
        # The buffer holds a NUL: lines must be looked for with both ends.
        self._nul = False
        self._discarding = False
        self._raw_left = 0
        # Made when a chunk comes in several reads: an idle connection
        # holds no list.
        self._raw_parts: list[bytes] | None = None

    def feed(self, data: bytes) -> None:
        """
        Add bytes read from the connection.
        """
        if self._pos >= len(self._buffer):
            self._buffer = data
        else:
            self._buffer = self._buffer[self._pos :] + data
        self._pos = 0
        self._nul = b"\x00" in self._buffer

    def expect_raw(self, length: int) -> None:
        """
        The next C{length} bytes are raw: given as one L{Chunk}.
        """
        self._raw_left = length
        self._raw_parts = None

    @property
    def idle(self) -> bool:
        """
        Whether nothing is buffered (no partial line, chunk or discard).
        """
        return (
            self._pos >= len(self._buffer)
            and not self._raw_left
            and not self._discarding
        )

    @property
    def pending(self) -> int:
        """
        Bytes buffered and not yet given.
        """
        return len(self._buffer) - self._pos

    def clear(self) -> None:
        """
        Drop everything buffered.
        """
        self._buffer, self._pos, self._nul = b"", 0, False
        self._discarding = False
        self._raw_left, self._raw_parts = 0, None

    def discard(self) -> bool:
        """
        Drop the lines buffered and not yet given, and a line buffered in
        part up to its terminator (which may come in a later feed): the
        core refused a step of the login, and what the client sent ahead
        must not be read.  The rest of a raw chunk under way is still
        given (its line was read before); bytes fed later are new input.

        @return: whether anything was dropped.
        """
        buffer, pos = self._buffer, self._pos
        if self._raw_left:
            pos = min(len(buffer), pos + self._raw_left)
        rest = buffer[pos:]
        if not rest:
            return False
        self._buffer, self._pos = buffer[self._pos : pos], 0
        self._nul = b"\x00" in self._buffer
        if rest[-1:] not in (b"\n", b"\x00"):
            self._discarding = True
        return True

    def next(self) -> Frame | None:
        """
        The next frame, or L{None} until more bytes are fed.
        """
        if self._raw_left:
            return self._next_raw()
        buffer, pos = self._buffer, self._pos
        if self._discarding:
            end = self._end(buffer, pos)
            if end < 0:
                self._buffer, self._pos, self._nul = b"", 0, False
                return None
            self._discarding = False
            pos = self._pos = end + 1
        end = self._end(buffer, pos)
        if end < 0:
            if len(buffer) - pos > self.max_length + 1:
                # Over the limit even if a CR and its end come next: drop it.
                self._buffer, self._pos, self._nul = b"", 0, False
                self._discarding = True
                return TOO_LONG
            return None
        line = buffer[pos:end]
        self._pos = end + 1
        if line[-1:] == b"\r":
            line = line[:-1]
            if self.terminator is None:
                self.terminator = b"\r\n" if buffer[end] == 10 else b"\x00"
        elif self.terminator is None:
            self.terminator = b"\n" if buffer[end] == 10 else b"\x00"
        if len(line) > self.max_length:
            return TOO_LONG
        return line

    def _end(self, buffer: bytes, pos: int) -> int:
        """
        Where the first terminator at or after C{pos} is, or -1.
        """
        end = buffer.find(b"\n", pos)
        if self._nul:
            nul = buffer.find(b"\x00", pos, None if end < 0 else end)
            if nul >= 0:
                return nul
        return end

    def _next_raw(self) -> Chunk | None:
        buffer, pos = self._buffer, self._pos
        take = min(self._raw_left, len(buffer) - pos)
        if take <= 0:
            return None
        part = buffer[pos : pos + take]
        self._pos = pos + take
        self._raw_left -= take
        parts = self._raw_parts
        if self._raw_left:
            if parts is None:
                self._raw_parts = [part]
            else:
                parts.append(part)
            return None
        self._raw_parts = None
        return Chunk(b"".join([*parts, part]) if parts else part)

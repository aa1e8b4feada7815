# -*- test-case-name: tests.core.test_logs -*-
"""
Rate-limited logging for per-connection events.

Formatting one event with twistd's default observer costs tens of
microseconds, more than a whole login or a refused line costs the server.
Without a limit, a connection storm or one client sending refused lines at
full speed would spend the server's time writing the log (and fill the
disk).  Like the kernel's C{printk_ratelimit}, we log up to C{per_second}
events each second and then one line saying how many were left out.

Security events (wrong passwords, throttles, refused connections, floods)
go through a limiter of their own (L{chat.core.core.ChatCore.security_log}),
so that no client can spend their budget with noise of another kind.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger


def loggable(text: str) -> str:
    """
    C{text} with what is not printable escaped as Python writes it
    (C{\\x1b}, C{\\u202e}): what a client sent reaches the log as data,
    never as a terminal control or a forged line.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class LogLimiter:
    """
    Emit at most C{per_second} events a second through L{info}; count the
    rest and report the count when the second is over.
    """

    _log = Logger()

    def __init__(
        self, clock: IReactorTime, per_second: int = 100, *, what: str = "connection"
    ) -> None:
        """
        @param what: the kind of events, for the line that counts the ones
            left out.
        """
        self._clock = clock
        self.per_second = per_second
        self._what = what
        self._window = -1
        self._count = 0
        self._suppressed = 0
        self._report: IDelayedCall | None = None

    def allow(self) -> bool:
        """
        Count one event: whether it may be logged (callers skip building
        its fields otherwise).
        """
        if self.per_second <= 0:
            return True
        now = self._clock.seconds()
        window = int(now)
        if window != self._window:
            self._window = window
            self._count = 0
        self._count += 1
        if self._count <= self.per_second:
            return True
        self._suppressed += 1
        if self._report is None:
            self._report = self._clock.callLater(window + 1 - now, self._flush)
        return False

    def info(self, logger: Logger, fmt: str, **fields: Any) -> None:
        """
        C{logger.info(fmt, **fields)}, unless this second's budget is spent;
        text fields are L{loggable}: these lines carry what clients sent.
        """
        if self.allow():
            logger.info(fmt, **_escaped(fields))

    def warn(self, logger: Logger, fmt: str, **fields: Any) -> None:
        """
        L{info}, at the warning level.
        """
        if self.allow():
            logger.warn(fmt, **_escaped(fields))  # noqa: G010 (twisted.logger)

    def _flush(self) -> None:
        self._report = None
        count, self._suppressed = self._suppressed, 0
        self._log.info(
            "{count} {what} events were not logged (limit: {limit} a second)",
            count=count,
            what=self._what,
            limit=self.per_second,
        )

    def stop(self) -> None:
        """
        Report what is pending now (at shutdown).
        """
        if self._report is not None and self._report.active():
            self._report.cancel()
            self._flush()


def _escaped(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        key: loggable(value) if type(value) is str else value
        for key, value in fields.items()
    }

# -*- test-case-name: tests.core.test_logs -*-
"""
Rate-limited logging for per-connection events.

Formatting one event with twistd's default observer costs tens of
microseconds, more than a whole login or a refused line costs the server.
Without a limit, a connection storm or one client sending refused lines at
full speed would spend the server's time writing the log (and fill the
disk).  Like the kernel's C{printk_ratelimit}, we log up to C{per_second}
events each second and then one line saying how many were left out.
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

    def __init__(self, clock: IReactorTime, per_second: int = 100) -> None:
        self._clock = clock
        self.per_second = per_second
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
            logger.info(
                fmt,
                **{
                    key: loggable(value) if type(value) is str else value
                    for key, value in fields.items()
                },
            )

    def _flush(self) -> None:
        self._report = None
        count, self._suppressed = self._suppressed, 0
        self._log.info(
            "{count} connection events were not logged (limit: {limit} a second)",
            count=count,
            limit=self.per_second,
        )

    def stop(self) -> None:
        """
        Report what is pending now (at shutdown).
        """
        if self._report is not None and self._report.active():
            self._report.cancel()
            self._flush()

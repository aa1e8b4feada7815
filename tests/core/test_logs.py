"""
Tests for L{chat.core.logs.LogLimiter}.
"""

from __future__ import annotations

from typing import cast

from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, Logger, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from chat.core.logs import LogLimiter, loggable


class LogLimiterTests(SynchronousTestCase):
    """
    At most C{per_second} events a second, then a count of the rest.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(100.5)
        self.events: list[LogEvent] = []
        observer = cast(ILogObserver, self.events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        self.logger = Logger(namespace="test")

    def formats(self) -> list[str]:
        """
        The formats of the events logged since the last call.
        """
        found = [str(e["log_format"]) for e in self.events]
        del self.events[:]
        return found

    def test_under_limit(self) -> None:
        """
        Events within the budget are logged as given, fields and all.
        """
        limiter = LogLimiter(self.clock, per_second=3)
        for i in range(3):
            limiter.info(self.logger, "event {i}", i=i)
        self.assertEqual([e["i"] for e in self.events], [0, 1, 2])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_text_escaped(self) -> None:
        """
        Text fields are logged L{loggable}; other fields as given.
        """
        limiter = LogLimiter(self.clock)
        value = object()
        limiter.info(self.logger, "{a} {b}", a="x\x1by", b=value)
        [event] = self.events
        self.assertEqual((event["a"], event["b"]), ("x\\x1by", value))

    def test_over_limit_counted(self) -> None:
        """
        Events over the budget are counted and reported once the second
        ends; the next second has a fresh budget.
        """
        limiter = LogLimiter(self.clock, per_second=2)
        for i in range(7):
            limiter.info(self.logger, "event {i}", i=i)
        self.assertEqual(self.formats(), ["event {i}"] * 2)
        self.clock.advance(0.5)
        [report] = list(self.events)
        self.assertEqual(report["count"], 5)
        self.assertEqual(report["limit"], 2)
        del self.events[:]
        limiter.info(self.logger, "later")
        self.assertEqual(self.formats(), ["later"])

    def test_allow(self) -> None:
        """
        L{LogLimiter.allow} counts an event against the budget without
        logging it, so callers can skip building the fields.
        """
        limiter = LogLimiter(self.clock, per_second=2)
        self.assertEqual([limiter.allow() for _ in range(3)], [True, True, False])
        self.assertEqual(self.formats(), [])
        self.clock.advance(0.5)
        [report] = list(self.events)
        self.assertEqual(report["count"], 1)

    def test_no_limit(self) -> None:
        """
        A limit of 0 logs everything.
        """
        limiter = LogLimiter(self.clock, per_second=0)
        for _ in range(500):
            limiter.info(self.logger, "x")
        self.assertEqual(len(self.formats()), 500)

    def test_stop_reports_pending(self) -> None:
        """
        Stopping reports what was left out and leaves no delayed call.
        """
        limiter = LogLimiter(self.clock, per_second=1)
        limiter.info(self.logger, "a")
        limiter.info(self.logger, "b")
        del self.events[:]
        limiter.stop()
        [report] = list(self.events)
        self.assertEqual(report["count"], 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_with_nothing_pending(self) -> None:
        """
        Stopping when nothing was left out logs nothing.
        """
        limiter = LogLimiter(self.clock, per_second=1)
        limiter.info(self.logger, "a")
        del self.events[:]
        limiter.stop()
        self.assertEqual(self.formats(), [])


class LoggableTests(SynchronousTestCase):
    """
    L{loggable}: what is not printable is escaped as Python writes it.
    """

    def test_printable_unchanged(self) -> None:
        """
        Printable text, any script, is kept as it is.
        """
        for text in ("", "hello, world", "ünïcödé 名前"):
            self.assertEqual(loggable(text), text)

    def test_controls_escaped(self) -> None:
        """
        C0 and C1 controls, line breaks and bidi overrides are escaped.
        """
        self.assertEqual(
            loggable("a\x1b[31mb\r\nc\x85d\u202ee\tf"),
            "a\\x1b[31mb\\r\\nc\\x85d\\u202ee\\tf",
        )

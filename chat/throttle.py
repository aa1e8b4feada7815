# -*- test-case-name: tests.test_accounts -*-
"""
Count failures per key in a sliding window, to slow down password guessing.
"""

from __future__ import annotations

from collections import deque

from twisted.internet.interfaces import IReactorTime


class Throttle:
    """
    At most C{limit} failures per key in any C{window} seconds.

    Only failures are kept, and only for keys that failed recently, so an
    attacker cycling through keys costs memory bounded by its own failure
    rate times the window.
    """

    def __init__(self, clock: IReactorTime, limit: int, window: float) -> None:
        self._clock = clock
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._sweep_at = 1024

    def _recent(self, key: str) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._clock.seconds() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def wait(self, key: str) -> float:
        """
        Seconds until C{key} may try again; 0 if it may now.
        """
        times = self._recent(key)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - self._clock.seconds())

    def failed(self, key: str) -> None:
        """
        Record a failure for C{key}.
        """
        self._recent(key)
        self._failures.setdefault(key, deque()).append(self._clock.seconds())
        if len(self._failures) >= self._sweep_at:
            # Keys nobody retries are only dropped here: amortised O(1).
            for stale in list(self._failures):
                self._recent(stale)
            self._sweep_at = max(1024, 2 * len(self._failures))

    def succeeded(self, key: str) -> None:
        """
        Forget C{key}'s failures.
        """
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)

# -*- test-case-name: tests.core.test_core -*-
"""
L{Peers}: what the parts of the core are built with.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

from chat.core.admission import Admission
from chat.core.delivery import Delivery
from chat.core.fanout import IFanOut
from chat.core.limits import Limits
from chat.core.logs import LogLimiter
from chat.core.presence import IPresence
from chat.store.interface import IChatStore


@dataclass(frozen=True, slots=True)
class Peers:
    """
    The seams and services every part of the core may use, made once by
    L{chat.core.core.ChatCore}; each part takes from it what it needs, and
    is given the other parts it calls by name (no part reaches another
    through a parent).

    @ivar log_limiter: the log budget of per-connection events.
    @ivar security_log: the log budget of security events (refused
        connections, floods, deadlines), which other events cannot spend.
    @ivar auth_log: the log budget of password events (wrong passwords,
        throttles, busy refusals): apart again, so that a storm of refused
        connections cannot hide a password guesser.
    @ivar keep_history: broadcasts and room messages are kept as history.
    @ivar admission: the connections, their limits and deadlines.
    """

    clock: IReactorTime
    store: IChatStore
    presence: IPresence
    fanout: IFanOut
    delivery: Delivery
    limits: Limits
    log_limiter: LogLimiter
    security_log: LogLimiter
    keep_history: bool
    # Connections (issue 15, "conns").
    admission: Admission
    auth_log: LogLimiter

# -*- test-case-name: tests.core.test_flood -*-
"""
Flood control: a token bucket per connection that slows a client's
requests down to a rate, as Ergo's "fakelag" does, and the bound past
which a client that keeps sending faster is dropped (excess flood).

Every request takes a token (a message of more than L{TOKEN_BYTES} bytes
one more per L{TOKEN_BYTES}); a full bucket holds C{burst} of them and
refills at C{rate} a second, so a person typing, pasting a few dozen lines
or logging in never waits, while a flooder is held to the rate: when the
bucket is empty the session holds the request and pauses the door's
input until the next token (L{chat.core.session.Session}).  What the
flooder sends meanwhile waits in its own socket buffers, not the
server's memory.

What a client owes is the time it was held back in a row: each wait for a
token adds to it, and a request that finds a token without waiting clears
it.  Waits for anything else (the store, a password check) add nothing.
Past L{Limits.flood_backlog} seconds the client is told C{excess flood}
and dropped.

Guests (clients not logged in under a registered name) get a smaller
bucket and a lower rate than registered users.  Clients from an exempt
network (C{--exempt}) have no bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chat.core.limits import Limits

#: Bytes of text a token pays for beyond the first: a message of up to this
#: many bytes costs one token, a longer one one more per this many, so that
#: a burst of the longest lines cannot fill readers' send queues where one
#: of ordinary lines does not (an attacker's review: 48 guests bursting
#: 4 KB lines at once cut off readers that kept up with normal traffic).
TOKEN_BYTES: Final = 512

#: Tokens taken from the bucket at once: a session spends them with an
#: integer count, so the clock is read once per this many requests at most.
#: A bucket that refilled while the session still held some of them can let
#: up to this many less one through beyond the burst, once.
GRANT: Final = 8

# A token's worth less rounding: a wait computed for a whole token ends
# with one, whatever the floating point makes of the sum.
_EPSILON: Final = 1e-9


@dataclass(frozen=True, slots=True)
class Rate:
    """
    The bucket of one kind of client.

    @ivar burst: tokens a full bucket holds: requests that go through at
        once.
    @ivar per_second: tokens added a second: the rate a flooder is held to.
    """

    burst: int
    per_second: float


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """
    The flood limits of one core, from its L{Limits}.

    @ivar guest: the bucket of a client not logged in under a registered
        name.
    @ivar registered: the bucket of a client that is.
    @ivar backlog: seconds a client may be held back in a row before it is
        dropped.
    """

    guest: Rate
    registered: Rate
    backlog: float

    @classmethod
    def of(cls, limits: Limits) -> FloodLimits:
        return cls(
            Rate(limits.guest_flood_burst, limits.guest_flood_rate),
            Rate(limits.flood_burst, limits.flood_rate),
            limits.flood_backlog,
        )


class Bucket:
    """
    One connection's token bucket, refilled when it is looked at.

    @ivar level: tokens in it at C{stamp} (a fraction while it refills).
    @ivar stamp: when C{level} was last brought up to date.
    @ivar debt: seconds the client was held back in a row: the waits for
        a token, as long as each lasted.
    @ivar held_at: when the last wait for a token began.
    @ivar rate: the kind of bucket it is now.
    """

    __slots__ = ("debt", "held_at", "level", "rate", "stamp")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.level = float(rate.burst)
        self.stamp = now
        self.debt = 0.0
        self.held_at = now

    def take(self, rate: Rate, now: float) -> int:
        """
        Take up to L{GRANT} whole tokens, after refilling for the time since
        the last look: how many (0 if the bucket is empty).

        @param rate: the kind of bucket the client has now: a guest that
            logs in under a registered name gets the difference of the two
            bursts, and one that gives its name up loses it.
        """
        if rate is not self.rate:
            self.level = max(0.0, self.level + rate.burst - self.rate.burst)
            self.rate = rate
        level = self.level + (now - self.stamp) * rate.per_second
        if level > rate.burst:
            level = float(rate.burst)
        self.stamp = now
        # (Below empty after a long message, it gives nothing.)
        taken = min(GRANT, max(0, int(level + _EPSILON)))
        self.level = level - taken
        return taken

    def wait(self, rate: Rate) -> float:
        """
        Seconds from the last L{take} until the bucket holds a whole token.
        """
        return max(0.0, (1.0 - self.level) / rate.per_second)

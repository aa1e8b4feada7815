"""
Tests for L{chat.core.delivery}, L{chat.core.fanout} and the seam of
L{chat.core.client}: when and in what order events reach clients.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chat.core.client import CLOSED, Batch, Client, IConnection
from chat.core.delivery import Delivery
from chat.core.fanout import IFanOut, LocalFanOut
from chat.core.presence import LocalPresence
from chat.events import Event, Message, Private
from tests.support import START, CoreTestCase, FakeConnection


class BatchConnection(FakeConnection):
    """
    A L{FakeConnection} that also records each batch it is handed, and
    how often it is aborted.

    @ivar batches: the events of each batch, less those skipped.
    """

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Event]] = []
        self.aborts = 0

    def deliver_batch(self, batch: Batch, skip: Sequence[int] | None) -> None:
        before = len(self.events)
        super().deliver_batch(batch, skip)
        self.batches.append(self.events[before:])

    def abort(self) -> None:
        super().abort()
        self.aborts += 1


def client(name: str) -> Client:
    """
    A client called C{name} on a L{BatchConnection}.
    """
    made = Client(BatchConnection(), "192.0.2.1")
    made.name = name
    return made


def connection(of: Client) -> BatchConnection:
    """
    The L{BatchConnection} of C{of}.
    """
    assert isinstance(of.connection, BatchConnection)
    return of.connection


def message(text: str) -> Message:
    """
    A broadcast message saying C{text}.
    """
    return Message(START, "someone", text)


class SeamTests(SynchronousTestCase):
    """
    The test doubles and the local implementations provide the core's
    interfaces.
    """

    def test_fake_connection(self) -> None:
        """
        The tests' L{FakeConnection} really is an L{IConnection}.
        """
        self.assertTrue(verifyObject(IConnection, FakeConnection()))

    def test_local_fanout(self) -> None:
        """
        L{LocalFanOut} is an L{IFanOut}.
        """
        fanout = LocalFanOut(LocalPresence(), Delivery(Clock()))
        self.assertTrue(verifyObject(IFanOut, fanout))


class DeliveryTestCase(SynchronousTestCase):
    """
    A L{Delivery} on a clock, and three clients.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.delivery = Delivery(self.clock, hold_max=5)
        self.alice, self.bob, self.carol = (
            client("alice"),
            client("bob"),
            client("carol"),
        )
        self.everyone = (self.alice, self.bob, self.carol)

    def batches(self, of: Client) -> list[list[str]]:
        """
        The texts of the batches C{of} was handed, as lists.
        """
        return [
            [getattr(e, "text", type(e).__name__) for e in batch]
            for batch in connection(of).batches
        ]


class BroadcastTests(DeliveryTestCase):
    """
    Broadcasts are fanned out at the end of the turn, together.
    """

    def test_end_of_turn(self) -> None:
        """
        The broadcasts of a turn reach nobody during it, and each recipient
        at its end, in order, as one batch.
        """
        for text in ("one", "two", "three"):
            self.delivery.broadcast(message(text), self.everyone, None)
        self.assertEqual(connection(self.bob).events, [])
        self.clock.advance(0)
        for person in self.everyone:
            self.assertEqual(self.batches(person), [["one", "two", "three"]])
        self.assertEqual(self.delivery.turn, 1)

    def test_shared_batch(self) -> None:
        """
        Every recipient is handed the same events, to render once.
        """
        self.delivery.broadcast(message("one"), self.everyone, None)
        self.delivery.broadcast(message("two"), self.everyone, None)
        self.clock.advance(0)
        [alice_one, alice_two] = connection(self.alice).events
        [bob_one, bob_two] = connection(self.bob).events
        self.assertIs(alice_one, bob_one)
        self.assertIs(alice_two, bob_two)

    def test_audiences(self) -> None:
        """
        Broadcasts to different audiences are batched by runs of the same
        audience, and each recipient still gets them in order.
        """
        few = (self.alice, self.bob)
        self.delivery.broadcast(message("all 1"), self.everyone, None)
        self.delivery.broadcast(message("all 2"), self.everyone, None)
        self.delivery.broadcast(message("few"), few, None)
        self.delivery.broadcast(message("all 3"), self.everyone, None)
        self.clock.advance(0)
        self.assertEqual(
            self.batches(self.alice), [["all 1", "all 2"], ["few"], ["all 3"]]
        )
        self.assertEqual(self.batches(self.carol), [["all 1", "all 2"], ["all 3"]])

    def test_sender_skipped(self) -> None:
        """
        A sender gets the others' broadcasts of the turn but not its own.
        """
        self.delivery.broadcast(message("a1"), self.everyone, self.alice)
        self.delivery.broadcast(message("b1"), self.everyone, self.bob)
        self.delivery.broadcast(message("a2"), self.everyone, self.alice)
        self.clock.advance(0)
        self.assertEqual(self.batches(self.alice), [["b1"]])
        self.assertEqual(self.batches(self.bob), [["a1", "a2"]])
        self.assertEqual(self.batches(self.carol), [["a1", "b1", "a2"]])

    def test_only_own(self) -> None:
        """
        A sender of every broadcast of a run is handed nothing, not an
        empty batch; nor is the sender of a lone broadcast.
        """
        self.delivery.broadcast(message("a1"), self.everyone, self.alice)
        self.delivery.broadcast(message("a2"), self.everyone, self.alice)
        self.delivery.broadcast(message("lone"), (self.alice, self.bob), self.alice)
        self.clock.advance(0)
        self.assertEqual(connection(self.alice).batches, [])
        self.assertEqual(self.batches(self.bob), [["a1", "a2"], ["lone"]])

    def test_send_after_broadcast(self) -> None:
        """
        A direct send (a private message) after a broadcast in the same
        turn reaches its client after the broadcast, at once.
        """
        self.delivery.broadcast(message("to all"), self.everyone, self.alice)
        private = Private(START, "alice", "bob", "to you")
        self.delivery.send(self.bob, private)
        self.assertEqual(self.batches(self.bob), [["to all"]])
        self.assertEqual(connection(self.bob).events[-1:], [private])
        self.clock.advance(0)
        self.assertEqual(len(connection(self.bob).events), 2)
        self.assertEqual(self.batches(self.carol), [["to all"]])

    def test_send_alone(self) -> None:
        """
        A direct send with no broadcast waiting is delivered at once and
        schedules nothing.
        """
        private = Private(START, "alice", "bob", "to you")
        self.delivery.send(self.bob, private)
        self.assertEqual(connection(self.bob).events, [private])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class HoldTests(DeliveryTestCase):
    """
    A client being caught up gets its catch-up before the live traffic
    of meanwhile.
    """

    def test_catch_up_first(self) -> None:
        """
        What is broadcast and sent to a held client waits, and follows its
        catch-up when it is released, in one batch.
        """
        self.delivery.hold(self.carol)
        self.delivery.broadcast(message("live"), self.everyone, self.alice)
        self.clock.advance(0)
        self.delivery.send(self.carol, Private(START, "bob", "carol", "psst"))
        self.assertEqual(connection(self.carol).events, [])
        self.assertEqual(self.batches(self.bob), [["live"]])
        self.delivery.release(self.carol, [message("history")])
        self.assertEqual(self.batches(self.carol), [["history", "live", "psst"]])
        self.assertIsNone(self.carol.held)

    def test_release_in_same_turn(self) -> None:
        """
        A broadcast made while a client is held, released in the same turn,
        still comes after the catch-up.
        """
        self.delivery.hold(self.carol)
        self.delivery.broadcast(message("live"), self.everyone, None)
        self.delivery.release(self.carol, [message("history")])
        self.assertEqual(self.batches(self.carol), [["history", "live"]])
        self.clock.advance(0)
        self.assertEqual(self.batches(self.carol), [["history", "live"]])
        self.assertEqual(self.batches(self.bob), [["live"]])

    def test_broadcast_before_hold(self) -> None:
        """
        A broadcast made before the hold, in the same turn, reaches the
        client before its catch-up.
        """
        self.delivery.broadcast(message("before"), self.everyone, None)
        self.delivery.hold(self.carol)
        self.delivery.broadcast(message("after"), self.everyone, None)
        self.delivery.release(self.carol, [message("history")])
        self.clock.advance(0)
        self.assertEqual(self.batches(self.carol), [["before"], ["history", "after"]])

    def test_nothing_to_release(self) -> None:
        """
        Releasing with no catch-up and nothing kept hands over nothing.
        """
        self.delivery.hold(self.carol)
        self.delivery.release(self.carol, [])
        self.assertEqual(connection(self.carol).batches, [])
        self.assertIsNone(self.carol.held)

    def test_closed_while_held(self) -> None:
        """
        A client that closed while held is handed nothing at its release.
        """
        self.delivery.hold(self.carol)
        self.delivery.broadcast(message("live"), self.everyone, None)
        self.clock.advance(0)
        self.carol.state = CLOSED
        self.delivery.release(self.carol, [message("history")])
        self.assertEqual(connection(self.carol).events, [])

    def test_hold_max(self) -> None:
        """
        Past L{Delivery.hold_max} events kept, the held connection is
        aborted, once; the others are not.
        """
        self.delivery.hold(self.carol)
        for i in range(5):
            self.delivery.broadcast(message(f"m{i}"), self.everyone, None)
        self.clock.advance(0)
        self.assertFalse(connection(self.carol).aborted)
        self.delivery.send(self.carol, message("one too many"))
        self.assertTrue(connection(self.carol).aborted)
        for i in range(3):
            self.delivery.broadcast(message(f"more {i}"), self.everyone, None)
        self.clock.advance(0)
        self.assertEqual(connection(self.carol).aborts, 1)
        self.assertFalse(connection(self.bob).aborted)

    def test_hold_max_in_one_batch(self) -> None:
        """
        A run of broadcasts that takes a held client past the limit at once
        aborts it too.
        """
        self.delivery.hold(self.carol)
        for i in range(6):
            self.delivery.broadcast(message(f"m{i}"), self.everyone, self.alice)
        self.clock.advance(0)
        self.assertEqual(connection(self.carol).aborts, 1)


class TurnTests(DeliveryTestCase):
    """
    The end of the turn: fan-out, then the doors' writers, then the next
    turn's callbacks.
    """

    def test_order(self) -> None:
        """
        Writers run after the turn's broadcasts are fanned out, and
        C{next_turn} callbacks after the writers, in the next turn.
        """
        seen: list[tuple[str, int, int]] = []

        def note(what: str) -> None:
            seen.append((what, len(connection(self.bob).events), self.delivery.turn))

        self.delivery.next_turn(lambda: note("next"))
        self.delivery.at_end_of_turn(lambda: note("writer 1"))
        self.delivery.broadcast(message("one"), self.everyone, None)
        self.delivery.at_end_of_turn(lambda: note("writer 2"))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(0)
        self.assertEqual(seen, [("writer 1", 1, 0), ("writer 2", 1, 0), ("next", 1, 1)])

    def test_broadcast_while_fanning_out(self) -> None:
        """
        A broadcast made while the turn's are fanned out (a client dropped
        for not reading leaves) goes out at the end of a turn of its own,
        even if nothing else happens.
        """
        late: list[bool] = []

        def deliver_batch(batch: Batch, skip: Sequence[int] | None) -> None:
            if not late:
                late.append(True)
                self.delivery.broadcast(message("late"), self.everyone, None)

        connection(self.alice).deliver_batch = deliver_batch  # type: ignore[method-assign]
        self.delivery.broadcast(message("one"), self.everyone, None)
        self.clock.advance(0)
        self.assertEqual(
            [e.text for e in connection(self.bob).events if isinstance(e, Message)],
            ["one", "late"],
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_each_once(self) -> None:
        """
        Writers and callbacks run once, at the end of the turn they were
        given in.
        """
        calls: list[str] = []
        self.delivery.at_end_of_turn(lambda: calls.append("writer"))
        self.delivery.next_turn(lambda: calls.append("next"))
        self.clock.advance(0)
        self.delivery.broadcast(message("later"), self.everyone, None)
        self.clock.advance(0)
        self.assertEqual(calls, ["writer", "next"])
        self.assertEqual(self.delivery.turn, 2)

    def test_gathered_in_writer(self) -> None:
        """
        What a writer or a callback broadcasts goes out at the end of a
        later turn.
        """
        self.delivery.at_end_of_turn(
            lambda: self.delivery.broadcast(message("from writer"), self.everyone, None)
        )
        self.clock.advance(0)
        self.assertEqual(self.batches(self.bob), [["from writer"]])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_end_turn_directly(self) -> None:
        """
        C{end_turn} called directly (at shutdown) fans out, writes and
        starts the next turn at once, and cancels the scheduled call.
        """
        calls: list[str] = []
        self.delivery.broadcast(message("last"), self.everyone, None)
        self.delivery.at_end_of_turn(lambda: calls.append("writer"))
        self.delivery.next_turn(lambda: calls.append("next"))
        self.delivery.end_turn()
        self.assertEqual(self.batches(self.bob), [["last"]])
        self.assertEqual(calls, ["writer", "next"])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(0)
        self.assertEqual(self.batches(self.bob), [["last"]])
        self.assertEqual(self.delivery.turn, 1)


class CoreDeliveryTests(CoreTestCase):
    """
    The core's sessions deliver through one L{Delivery}.
    """

    def test_turn_batched(self) -> None:
        """
        Several sessions' messages of one turn reach a third as one batch,
        and each sender gets the others' but not its own.
        """
        alice = self.guest("alice")
        bob = self.guest("bob")
        carol = BatchConnection()
        self.core.open_session(carol, "192.0.2.9").choose_name("carol")
        self.clock.advance(0)
        alice.take()
        bob.take()
        del carol.batches[:]
        alice.session.say("one")
        bob.session.say("two")
        alice.session.say("three")
        self.assertEqual(carol.batches, [])
        self.clock.advance(0)
        self.assertEqual(
            [[getattr(e, "text", None) for e in b] for b in carol.batches],
            [["one", "two", "three"]],
        )
        self.assertEqual(
            [e.text for e in self.of_type(bob.take(), Message)], ["one", "three"]
        )
        self.assertEqual([e.text for e in self.of_type(alice.take(), Message)], ["two"])

"""
Tests for L{chat.core.core.ChatCore}: building the core, its start, expiry
and stop.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chat.core.core import ChatCore
from chat.core.fanout import IFanOut, LocalFanOut
from chat.core.limits import Limits
from chat.core.presence import IPresence, LocalPresence
from chat.events import Joined, Message, ShuttingDown
from chat.store.interface import Account, FileRecord
from chat.store.memory import MemoryStore
from chat.store.spool import MemorySpool
from tests.support import START, CoreTestCase, Person, fake_hasher


class ClosingSpool(MemorySpool):
    """
    A L{MemorySpool} that says whether it was started and closed, and
    whether the store was closed by then.
    """

    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self.store = store
        self.events: list[str] = []

    def start(self) -> Deferred[None]:
        self.events.append("start")
        return super().start()

    def close(self) -> Deferred[None]:
        self.events.append("close")
        return super().close()


class ClosingStore(MemoryStore):
    """
    A L{MemoryStore} that records its start and close.
    """

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def start(self) -> Deferred[None]:
        self.events.append("store start")
        return super().start()

    def close(self) -> Deferred[None]:
        self.events.append("store close")
        return succeed(None)


class BuildTests(SynchronousTestCase):
    """
    What L{ChatCore} builds, and from what.
    """

    def test_defaults(self) -> None:
        """
        Presence and fan-out are the in-process ones unless others are
        given, and provide their interfaces; limits default to L{Limits}.
        """
        core = ChatCore(Clock(), MemoryStore(), MemorySpool(), fake_hasher())
        self.assertIsInstance(core.presence, LocalPresence)
        self.assertTrue(verifyObject(IPresence, core.presence))
        self.assertIsInstance(core.fanout, LocalFanOut)
        self.assertTrue(verifyObject(IFanOut, core.fanout))
        self.assertEqual(core.limits, Limits())

    def test_seams_given(self) -> None:
        """
        A presence given is the one every part uses, and every broadcast
        goes through the fan-out made by the factory given.
        """
        clock = Clock()
        presence = LocalPresence()
        sent: list[object] = []

        class Recording(LocalFanOut):
            def to_everyone(self, event: object, sender: object) -> None:
                sent.append(event)
                super().to_everyone(event, sender)  # type: ignore[arg-type]

        core = ChatCore(
            clock,
            MemoryStore(),
            MemorySpool(),
            fake_hasher(),
            presence=presence,
            fanout=Recording,
        )
        alice = Person(core, clock)
        alice.session.choose_name("alice")
        self.assertIs(core.presence.lookup("alice"), alice.session)
        alice.session.say("hi")
        self.assertEqual([type(e) for e in sent], [Joined, Message])


class LifeTests(SynchronousTestCase):
    """
    Starting, expiring and stopping.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.store = ClosingStore()
        self.spool = ClosingSpool(self.store)
        self.core = ChatCore(self.clock, self.store, self.spool, fake_hasher())

    def test_start(self) -> None:
        """
        Starting opens the store, reads the registered names and the rooms,
        and starts the spool.
        """
        self.successResultOf(
            self.store.create_account(Account("bob", "Bob", "hashed:x", START))
        )
        self.successResultOf(self.core.start())
        self.assertEqual(self.store.events, ["store start"])
        self.assertEqual(self.spool.events, ["start"])
        self.assertEqual(self.core.accounts.registered("bob"), "Bob")

    def test_close(self) -> None:
        """
        Closing closes the store, then the spool.
        """
        self.successResultOf(self.core.start())
        self.successResultOf(self.core.close())
        self.assertEqual(self.store.events, ["store start", "store close"])
        self.assertEqual(self.spool.events, ["start", "close"])

    def test_expire(self) -> None:
        """
        Expiry deletes files past their age, from the store and the spool.
        """
        self.successResultOf(self.core.start())
        record = self.successResultOf(
            self.store.create_file(FileRecord(0, "a", "a", "b", "f", 1, "0" * 64))
        )
        self.successResultOf(self.spool.write(record.id, 0, [b"x"]))
        self.clock.advance(self.core.limits.file_age + 1)
        self.successResultOf(self.core.expire())
        self.assertIsNone(self.successResultOf(self.store.get_file(record.id)))
        self.assertEqual(self.spool.partial, {})


class StoppingTests(CoreTestCase):
    """
    What the core does when the server stops.
    """

    def test_stopping_writes_the_turn(self) -> None:
        """
        What was broadcast in the last turn is fanned out when the server
        stops, not lost with the turn's end that never comes.
        """
        alice = self.guest("alice")
        bob = self.guest("bob")
        alice.session.say("last words")
        self.assertEqual(bob.events, [])
        self.successResultOf(self.core.stopping())
        [said, notice] = bob.events
        assert isinstance(said, Message)
        self.assertIsInstance(notice, ShuttingDown)
        self.assertEqual(said.text, "last words")
        self.assertEqual(self.clock.getDelayedCalls(), [])

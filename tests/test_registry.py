"""
Tests for L{chat.registry}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chat.errors import InvalidName, NameInUse, NoSuchUser
from chat.registry import IChatClient, UserRegistry
from tests.fakes import FakeClient


class UserRegistryTests(SynchronousTestCase):
    """
    L{UserRegistry} maps case-insensitive names to clients.
    """

    def setUp(self) -> None:
        self.registry = UserRegistry()

    def test_fake_provides_interface(self) -> None:
        """
        The test double really is an L{IChatClient}.
        """
        self.assertTrue(verifyObject(IChatClient, FakeClient()))

    def test_add_and_lookup(self) -> None:
        """
        A name is found in any case and keeps the case it was typed in.
        """
        alice = FakeClient()
        self.registry.add("Alice", alice)
        self.assertIs(self.registry.lookup("aLiCe"), alice)
        self.assertEqual(alice.name, "Alice")
        self.assertEqual(self.registry.names(), ["Alice"])
        self.assertIn(alice, self.registry)
        self.assertEqual(len(self.registry), 1)

    def test_name_in_use(self) -> None:
        """
        A name held by someone else, in any case, is refused.
        """
        self.registry.add("alice", FakeClient())
        other = FakeClient()
        self.assertRaises(NameInUse, self.registry.add, "ALICE", other)
        self.assertIsNone(other.name)

    def test_invalid(self) -> None:
        """
        Invalid names never enter the registry.
        """
        self.assertRaises(InvalidName, self.registry.add, "a b", FakeClient())
        self.assertEqual(len(self.registry), 0)

    def test_remove_frees_name(self) -> None:
        """
        Removing a client frees its name; removing twice is harmless.
        """
        alice = FakeClient()
        self.registry.add("alice", alice)
        self.assertTrue(self.registry.remove(alice))
        self.assertFalse(self.registry.remove(alice))
        self.assertRaises(NoSuchUser, self.registry.lookup, "alice")
        self.registry.add("Alice", FakeClient())

    def test_remove_other_holder(self) -> None:
        """
        A stale client cannot remove the current holder of its old name.
        """
        stale, current = FakeClient(), FakeClient()
        self.registry.add("alice", stale)
        self.registry.remove(stale)
        self.registry.add("alice", current)
        self.assertFalse(self.registry.remove(stale))
        self.assertIs(self.registry.lookup("alice"), current)

    def test_names_sorted(self) -> None:
        """
        L{UserRegistry.names} sorts case-insensitively.
        """
        for name in ["carol", "Bob", "alice"]:
            self.registry.add(name, FakeClient())
        self.assertEqual(self.registry.names(), ["alice", "Bob", "carol"])


class SnapshotTests(SynchronousTestCase):
    def test_snapshot(self) -> None:
        """
        The snapshot is kept while nobody joins or leaves, and follows
        every join and leave.
        """
        registry = UserRegistry()
        alice, bob = FakeClient(), FakeClient()
        registry.add("alice", alice)
        first = registry.snapshot()
        self.assertEqual(first, (alice,))
        self.assertIs(registry.snapshot(), first)
        registry.add("bob", bob)
        self.assertEqual(registry.snapshot(), (alice, bob))
        registry.remove(alice)
        self.assertEqual(registry.snapshot(), (bob,))

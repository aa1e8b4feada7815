"""
Tests for L{chat.core.presence}: who is online.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from chat.core.client import Client
from chat.core.presence import IPresence, LocalPresence
from chat.errors import InvalidName, NameInUse, NoSuchUser, ReservedName
from tests.support import FakeConnection


def client() -> Client:
    """
    A client of the core with no name, on a L{FakeConnection}.
    """
    return Client(FakeConnection(), "192.0.2.1")


class LocalPresenceTests(SynchronousTestCase):
    """
    L{LocalPresence} maps case-insensitive names to clients.
    """

    def setUp(self) -> None:
        self.presence = LocalPresence()

    def test_provides_interface(self) -> None:
        """
        L{LocalPresence} really is an L{IPresence}.
        """
        self.assertTrue(verifyObject(IPresence, self.presence))

    def test_claim_and_lookup(self) -> None:
        """
        A claimed name is found in any case and keeps the case it was typed
        in; the client gets the name and its folded key.
        """
        alice = client()
        self.presence.claim("Alice", alice)
        self.assertIs(self.presence.lookup("aLiCe"), alice)
        self.assertIs(self.presence.find("alice"), alice)
        self.assertEqual((alice.name, alice.key), ("Alice", "alice"))
        self.assertEqual(self.presence.names(), ["Alice"])
        self.assertIn(alice, self.presence.everyone())
        self.assertEqual(len(self.presence), 1)

    def test_check(self) -> None:
        """
        L{LocalPresence.check} says whether a name could be claimed now,
        giving its key, and claims nothing.
        """
        self.assertEqual(self.presence.check("Alice"), "alice")
        self.assertEqual(len(self.presence), 0)
        self.presence.claim("alice", client())
        self.assertRaises(NameInUse, self.presence.check, "ALICE")
        self.assertRaises(ReservedName, self.presence.check, "all")

    def test_name_in_use(self) -> None:
        """
        A name held by someone else, in any case, is refused and the other
        client stays nameless.
        """
        self.presence.claim("alice", client())
        other = client()
        self.assertRaises(NameInUse, self.presence.claim, "ALICE", other)
        self.assertIsNone(other.name)
        self.assertNotIn(other, self.presence.everyone())

    def test_invalid(self) -> None:
        """
        Invalid names never enter the presence.
        """
        self.assertRaises(InvalidName, self.presence.claim, "a b", client())
        self.assertEqual(len(self.presence), 0)

    def test_release_frees_name(self) -> None:
        """
        Releasing a client frees its name; releasing it twice is harmless.
        """
        alice = client()
        self.presence.claim("alice", alice)
        self.assertTrue(self.presence.release(alice))
        self.assertFalse(self.presence.release(alice))
        self.assertRaises(NoSuchUser, self.presence.lookup, "alice")
        self.assertIsNone(self.presence.find("alice"))
        self.presence.claim("Alice", client())
        self.assertEqual(self.presence.names(), ["Alice"])

    def test_release_nameless(self) -> None:
        """
        Releasing a client that never had a name does nothing.
        """
        self.assertFalse(self.presence.release(client()))

    def test_release_other_holder(self) -> None:
        """
        A stale client cannot release the current holder of its old name.
        """
        stale, current = client(), client()
        self.presence.claim("alice", stale)
        self.presence.release(stale)
        self.presence.claim("alice", current)
        self.assertFalse(self.presence.release(stale))
        self.assertIs(self.presence.lookup("alice"), current)
        self.assertNotIn(stale, self.presence.everyone())

    def test_names_sorted(self) -> None:
        """
        L{LocalPresence.names} sorts case-insensitively.
        """
        for name in ["carol", "Bob", "alice"]:
            self.presence.claim(name, client())
        self.assertEqual(self.presence.names(), ["alice", "Bob", "carol"])

    def test_everyone(self) -> None:
        """
        The tuple of everyone is kept while nobody comes or goes, and
        follows every claim and release.
        """
        alice, bob = client(), client()
        self.presence.claim("alice", alice)
        first = self.presence.everyone()
        self.assertEqual(first, (alice,))
        self.assertIs(self.presence.everyone(), first)
        self.presence.claim("bob", bob)
        self.assertEqual(self.presence.everyone(), (alice, bob))
        self.presence.release(alice)
        self.assertEqual(self.presence.everyone(), (bob,))

"""
Tests for L{chat.core.admission}: per-address connection limits,
exemptions, the descriptor limit, the deadline for a name and the notice
at shutdown, through the core as a door drives it.
"""

from __future__ import annotations

from typing import cast

from hypothesis import given
from hypothesis import strategies as st

from twisted.trial.unittest import SynchronousTestCase

from chat.core.admission import (
    DESCRIPTOR_RESERVE,
    SHUTDOWN_GRACE,
    address_key,
    parse_network,
)
from chat.core.client import CLOSED, NAMELESS, ONLINE, PASSWORD
from chat.core.core import ChatCore
from chat.core.limits import Limits
from chat.core.passwords import PasswordHasher
from chat.events import Error, ShuttingDown, Welcome
from tests.support import CoreTestCase, FakeConnection, Person


class AddressTests(SynchronousTestCase):
    """
    What connections are counted under, and which networks are exempt.
    """

    def test_ipv4(self) -> None:
        """
        An IPv4 address is counted alone.
        """
        self.assertEqual(address_key("192.0.2.7"), "192.0.2.7")

    def test_ipv6_prefix(self) -> None:
        """
        IPv6 addresses are counted by their /64: a host has all of it.
        """
        self.assertEqual(address_key("2001:db8:1:2::1"), "2001:db8:1:2::/64")
        self.assertEqual(
            address_key("2001:db8:1:2:ffff::9"), address_key("2001:db8:1:2::1")
        )
        self.assertNotEqual(address_key("2001:db8:1:3::1"), "2001:db8:1:2::/64")

    def test_ipv4_mapped(self) -> None:
        """
        An IPv4-mapped IPv6 address is the IPv4 address it maps.
        """
        self.assertEqual(address_key("::ffff:192.0.2.7"), "192.0.2.7")

    def test_not_an_address(self) -> None:
        """
        A peer that is no IP address (a UNIX socket) is counted as it is.
        """
        self.assertEqual(address_key("unknown"), "unknown")

    @given(st.text(max_size=60))
    def test_any_text(self, text: str) -> None:
        """
        Any text is a key (itself, if it is no address), and is a network
        or a L{ValueError}, never another exception.
        """
        self.assertIsInstance(address_key(text), str)
        try:
            parse_network(text)
        except ValueError:
            pass

    @given(st.ip_addresses())
    def test_any_address(self, address: object) -> None:
        """
        Every IP address has a key, and is a network of one address.
        """
        key = address_key(str(address))
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            self.assertEqual(key, str(mapped))
        else:
            self.assertTrue(key == str(address) or key.endswith("/64"), key)
        self.assertEqual(parse_network(str(address)).num_addresses, 1)

    def test_parse_network(self) -> None:
        """
        Networks and single addresses parse; nonsense and host bits set do
        not.
        """
        self.assertEqual(str(parse_network("10.0.0.0/8")), "10.0.0.0/8")
        self.assertEqual(str(parse_network("2001:db8::/32")), "2001:db8::/32")
        self.assertEqual(str(parse_network("192.0.2.1")), "192.0.2.1/32")
        for bad in ("10.0.0.1/8", "nonsense", "10.0.0.0/33", ""):
            self.assertRaises(ValueError, parse_network, bad)


class AdmissionTestCase(CoreTestCase):
    """
    A core with small connection limits and some exempt networks.
    """

    limits = Limits(connections_per_address=3, connections_per_minute=5)
    exempt = ("10.0.0.0/8", "2001:db8:aa::/48")

    def setUp(self) -> None:
        super().setUp()
        self.core = ChatCore(
            self.clock,
            self.store,
            self.spool,
            cast(PasswordHasher, self.hasher),
            limits=self.limits,
            exempt=[parse_network(n) for n in self.exempt],
        )
        self.successResultOf(self.core.start())

    def refused(self, person: Person) -> str:
        """
        The code of the one error C{person} was sent, checking that it was
        refused: told why, closed, and its session C{CLOSED}.
        """
        self.assertIs(person.session.state, CLOSED)
        self.assertTrue(person.closed)
        [error] = person.events
        assert isinstance(error, Error)
        return error.code

    def admitted(self, person: Person) -> None:
        """
        Check that C{person} was let in: no name yet, nothing said.
        """
        self.assertIs(person.session.state, NAMELESS)
        self.assertFalse(person.closed)
        self.assertEqual(person.events, [])


class PerAddressTests(AdmissionTestCase):
    """
    Connections at once and per minute, per address.
    """

    def test_concurrent(self) -> None:
        """
        An address may have C{connections_per_address} connections open;
        the next is refused with its reason and closed; once one closes,
        another may open.
        """
        people = [self.connect(peer="192.0.2.1") for _ in range(3)]
        for person in people:
            self.admitted(person)
        fourth = self.connect(peer="192.0.2.1")
        self.assertEqual(self.refused(fourth), "too-many-connections")
        [error] = fourth.events
        assert isinstance(error, Error)
        self.assertEqual(
            error.text,
            "too many connections from your address; at most 3 at once: "
            "close one and try again.",
        )
        # Another address is not concerned.
        self.admitted(self.connect(peer="192.0.2.2"))
        people[0].session.closed(delivered=True)
        fourth.session.closed(delivered=True)  # the refused one counts not
        self.admitted(self.connect(peer="192.0.2.1"))
        again = self.connect(peer="192.0.2.1")
        self.assertEqual(self.refused(again), "too-many-connections")

    def test_ipv6_network(self) -> None:
        """
        Connections from one IPv6 /64 count together.
        """
        for host in range(1, 4):
            self.admitted(self.connect(peer=f"2001:db8:5:6::{host}"))
        self.refused(self.connect(peer="2001:db8:5:6:ffff::1"))
        self.admitted(self.connect(peer="2001:db8:5:7::1"))

    def test_per_minute(self) -> None:
        """
        An address may open C{connections_per_minute} connections in any
        minute, even if it closes each at once; the next is told when to
        try again.
        """
        for _ in range(5):
            person = self.connect(peer="192.0.2.1")
            self.admitted(person)
            person.session.closed(delivered=True)
            self.clock.advance(1)
        late = self.connect(peer="192.0.2.1")
        self.assertEqual(self.refused(late), "too-many-connections")
        [error] = late.events
        assert isinstance(error, Error)
        self.assertIn("at most 5 a minute: try again in 56 seconds", error.text)
        self.clock.advance(56)
        self.admitted(self.connect(peer="192.0.2.1"))

    def test_logged(self) -> None:
        """
        A refusal is logged through the security log's budget.
        """
        for _ in range(3):
            self.connect(peer="192.0.2.1")
        before = self.core.security_log._count
        self.connect(peer="192.0.2.1")
        self.assertEqual(self.core.security_log._count, before + 1)

    def test_bounded(self) -> None:
        """
        What is kept per address is dropped once its connections closed
        and the minute passed: many addresses, one connection each, leave
        nothing behind.
        """
        for i in range(3000):
            person = self.connect(peer=f"198.51.{i // 256}.{i % 256}")
            person.session.closed(delivered=True)
        self.assertEqual(self.core.admission.addresses(), 3000)
        self.clock.advance(61)
        for i in range(3000):
            other = self.connect(peer=f"203.0.{i // 256}.{i % 256}")
            other.session.closed(delivered=True)
        # The first 3000 were swept as the second came.
        self.assertLessEqual(self.core.admission.addresses(), 3000)
        self.assertEqual(self.core.admission._per_address, {})
        self.assertEqual(len(self.core.admission), 0)


class ExemptTests(AdmissionTestCase):
    """
    C{--exempt}: networks the per-address limits do not apply to.
    """

    def test_ipv4_network(self) -> None:
        """
        Any number of connections from an exempt IPv4 network, at any
        rate; the session knows it is exempt (for the flood limits).
        """
        people = [self.connect(peer="10.1.2.3") for _ in range(20)]
        for person in people:
            self.admitted(person)
            self.assertTrue(person.session.exempt)
        self.assertFalse(self.connect(peer="192.0.2.1").session.exempt)

    def test_ipv6_network(self) -> None:
        """
        The same for an IPv6 network, and an IPv4-mapped address of an
        exempt IPv4 network.
        """
        for _ in range(20):
            person = self.connect(peer="2001:db8:aa:1::5")
            self.admitted(person)
            self.assertTrue(person.session.exempt)
        self.assertTrue(self.connect(peer="::ffff:10.0.0.1").session.exempt)
        for _ in range(3):
            self.admitted(self.connect(peer="2001:db8:ab::1"))
        self.refused(self.connect(peer="2001:db8:ab::1"))

    def test_loopback_not_exempt(self) -> None:
        """
        Loopback is not exempt unless named.
        """
        for _ in range(3):
            self.admitted(self.connect(peer="127.0.0.1"))
        self.refused(self.connect(peer="127.0.0.1"))

    def test_open_session_exempt(self) -> None:
        """
        A door may exempt a session itself (C{exempt=True}).
        """
        connections = [FakeConnection() for _ in range(5)]
        for connection in connections:
            session = self.core.open_session(connection, "192.0.2.9", exempt=True)
            self.assertIs(session.state, NAMELESS)


class DescriptorTests(AdmissionTestCase):
    """
    New connections near the descriptor limit are refused.
    """

    def test_near_limit(self) -> None:
        """
        Connections, exempt ones too, and the spool's open uploads may take
        the descriptors but the reserve; the next is told the server is
        full.  One closing makes room.
        """
        self.core.admission.descriptors = DESCRIPTOR_RESERVE + 3
        first = self.connect(peer="10.0.0.1")
        self.connect(peer="10.0.0.2")
        self.connect(peer="192.0.2.1")
        full = self.connect(peer="10.0.0.3")
        self.assertEqual(self.refused(full), "server-full")
        first.session.closed(delivered=True)
        self.admitted(self.connect(peer="10.0.0.3"))

    def test_open_files(self) -> None:
        """
        Files open in the spool count.
        """
        self.core.admission.descriptors = DESCRIPTOR_RESERVE + 3
        self.core.admission._open_files = lambda: 2
        self.admitted(self.connect(peer="10.0.0.1"))
        self.refused(self.connect(peer="10.0.0.2"))

    def test_no_limit(self) -> None:
        """
        With no limit known, only the per-address limits apply.
        """
        self.core.admission.descriptors = None
        for _ in range(30):
            self.admitted(self.connect(peer="10.0.0.1"))


class NameDeadlineTests(AdmissionTestCase):
    """
    A connection that gives no name within C{name_timeout} is told and
    closed.
    """

    def test_nameless(self) -> None:
        """
        Thirty seconds without a name: an error that says why, then the
        connection closes; it no longer counts against its address.
        """
        person = self.connect(peer="192.0.2.1")
        self.clock.advance(29.9)
        self.assertFalse(person.closed)
        self.clock.advance(0.1)
        self.assertTrue(person.closed)
        self.assertIs(person.session.state, CLOSED)
        [error] = person.take()
        assert isinstance(error, Error)
        self.assertEqual(error.code, "registration-timeout")
        self.assertEqual(
            error.text,
            "registration timeout: no name was given within 30 seconds; "
            "connect again when you are ready.",
        )
        # What it sends meanwhile does nothing.
        person.session.choose_name("late")
        self.assertEqual(person.take(), [])
        person.session.closed(delivered=True)
        self.assertEqual(len(self.core.admission), 0)

    def test_named(self) -> None:
        """
        A client that chose a name in time stays.
        """
        person = self.guest("alice", peer="192.0.2.1")
        self.clock.advance(3600)
        self.assertFalse(person.closed)
        self.assertIs(person.session.state, ONLINE)

    def test_each_its_own(self) -> None:
        """
        Each connection has its own thirty seconds.
        """
        early = self.connect(peer="192.0.2.1")
        self.clock.advance(20)
        late = self.connect(peer="192.0.2.2")
        self.clock.advance(10)
        self.assertTrue(early.closed)
        self.assertFalse(late.closed)
        self.clock.advance(20)
        self.assertTrue(late.closed)

    def test_first_named(self) -> None:
        """
        The deadlines wait on one timer: one that named itself before its
        deadline leaves the later ones theirs, and a connection after a
        quiet spell gets its whole thirty seconds.
        """
        early = self.connect(peer="192.0.2.1")
        self.clock.advance(20)
        late = self.connect(peer="192.0.2.2")
        self.clock.advance(5)
        early.session.choose_name("early")
        self.clock.advance(5)
        self.assertFalse(early.closed)
        self.assertFalse(late.closed)
        self.clock.advance(20)
        self.assertTrue(late.closed)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        again = self.connect(peer="192.0.2.3")
        self.clock.advance(29)
        self.assertFalse(again.closed)
        self.clock.advance(1)
        self.assertTrue(again.closed)

    def test_at_password(self) -> None:
        """
        Asked for a password and giving none is no name either.
        """
        self.registered("alice")
        person = self.at_password("alice", peer="192.0.2.1")
        self.assertIs(person.session.state, PASSWORD)
        self.clock.advance(30)
        self.assertTrue(person.closed)
        self.assertEqual(self.errors(person.take()), ["registration-timeout"])

    def test_password_being_checked(self) -> None:
        """
        A password still being checked at the deadline is the server's
        wait: the client gets in once it is checked.
        """
        self.registered("alice")
        person = self.at_password("alice", peer="192.0.2.1")
        self.hasher.holding = True
        person.session.log_in("sesame1")
        self.clock.advance(31)
        self.assertFalse(person.closed)
        self.hasher.answer()
        self.assertIs(person.session.state, ONLINE)
        self.clock.advance(60)
        self.assertFalse(person.closed)


class ShutdownTests(AdmissionTestCase):
    """
    At shutdown every connection is told, then closed.
    """

    def test_notice(self) -> None:
        """
        Everyone, online or not yet, gets the notice after what it was
        sent before, and its connection is closed; L{ChatCore.disconnected}
        fires once they have.
        """
        alice = self.guest("alice", peer="192.0.2.1")
        bob = self.guest("bob", peer="192.0.2.2")
        nameless = self.connect(peer="192.0.2.3")
        alice.session.say("bye")
        self.successResultOf(self.core.stopping())
        for person in (alice, bob, nameless):
            self.assertTrue(person.closed)
            self.assertIsInstance(person.events[-1], ShuttingDown)
        kinds = [type(e).__name__ for e in bob.events]
        self.assertEqual(kinds[-2:], ["Message", "ShuttingDown"])
        d = self.core.disconnected()
        self.assertNoResult(d)
        for person in (alice, bob, nameless):
            person.session.closed(delivered=True)
        self.successResultOf(d)
        self.clock.advance(0)  # the turn of their departures
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_new_connections_refused(self) -> None:
        """
        A connection that opens while stopping is told and closed.
        """
        self.successResultOf(self.core.stopping())
        self.assertEqual(self.refused(self.connect(peer="10.0.0.1")), "server-full")

    def test_grace(self) -> None:
        """
        Connections that do not close within the grace are dropped, and
        the shutdown goes on.
        """
        alice = self.guest("alice", peer="192.0.2.1")
        self.core.stopping()
        d = self.core.disconnected()
        self.assertNoResult(d)
        self.clock.advance(SHUTDOWN_GRACE)
        self.assertTrue(alice.aborted)
        self.successResultOf(d)

    def test_nobody(self) -> None:
        """
        With nobody connected the shutdown does not wait.
        """
        self.successResultOf(self.core.stopping())
        self.successResultOf(self.core.disconnected())

    def test_no_deadline_after(self) -> None:
        """
        The deadline for a name is not kept any more once stopping.
        """
        self.connect(peer="192.0.2.1")
        self.core.stopping()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class WelcomeUnchangedTests(AdmissionTestCase):
    """
    Admitted clients get in as before.
    """

    def test_welcome(self) -> None:
        """
        A client under the limits gets its welcome.
        """
        person = self.connect(peer="192.0.2.1")
        person.session.choose_name("alice")
        self.assertIsInstance(person.take()[0], Welcome)

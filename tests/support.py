"""
What the unit tests share: test doubles for the core's seams, a core built
the way the server builds it, and certificates made on the fly.

The end-to-end tests have helpers of their own in L{tests.e2e.support}.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from chat.core.client import Batch, IConnection
from chat.core.core import ChatCore
from chat.core.limits import Limits
from chat.core.passwords import PasswordHasher
from chat.events import Error, Event, Prompt
from chat.lines.factory import ChatFactory
from chat.lines.protocol import ChatProtocol
from chat.store.interface import HistoryEntry, StoredMessage
from chat.store.memory import MemoryStore
from chat.store.spool import MemorySpool

E = TypeVar("E", bound=Event)
T = TypeVar("T")

#: The clock's time when a test starts (2023-11-14).
START = 1_700_000_000.0


def make_certificate(directory: str, hostname: str = "localhost") -> tuple[str, str]:
    """
    Write a self-signed certificate for C{hostname} (and 127.0.0.1) and its
    key into C{directory}: nothing PEM is committed.

    @return: the paths of the certificate and of the key, both PEM.
    """
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(hostname)]
    if hostname == "localhost":
        alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


def many_per_address(limits: Limits) -> Limits:
    """
    C{limits} with the per-address connection limits lifted, unless a test
    set them: most tests connect many clients from one address, and
    L{tests.core.test_admission} tests the limits themselves.
    """
    default = Limits()
    if (limits.connections_per_address, limits.connections_per_minute) != (
        default.connections_per_address,
        default.connections_per_minute,
    ):
        return limits
    return replace(
        limits, connections_per_address=1_000_000, connections_per_minute=1_000_000
    )


class Later:
    """
    Answers that come when the test says: a test double's methods pass
    their answer (a fired L{Deferred}) to L{later}, which holds it while
    C{holding} is true.

    @ivar waiting: the held answers, oldest first.
    """

    holding = False

    def __init__(self) -> None:
        self.waiting: list[tuple[Deferred[object], object]] = []

    def later(self, now: Deferred[T]) -> Deferred[T]:
        """
        C{now}, or while C{holding} a L{Deferred} that fires with its
        result when L{answer} says.
        """
        if not self.holding:
            return now
        box: list[object] = []
        now.addCallback(box.append)
        d: Deferred[object] = Deferred()
        self.waiting.append((d, box[0]))
        return cast(Deferred[T], d)

    def answer(self) -> None:
        """
        Answer the oldest request that waits.
        """
        d, result = self.waiting.pop(0)
        d.callback(result)

    def fail_next(self, error: Exception) -> None:
        """
        Fail the oldest request that waits.
        """
        d, _ = self.waiting.pop(0)
        d.errback(error)


class FakeHasher(Later):
    """
    A L{PasswordHasher} without the hashing: C{"hashed:" + password}, at
    once until a test sets C{holding} (L{Later}).  C{needs_rehash} is true
    for hashes starting with C{"old:"}.

    @ivar checked: the passwords it was asked to verify, in order.
    """

    #: As many threads as the server's pool.
    workers = 2

    def __init__(self) -> None:
        super().__init__()
        self.checked: list[str] = []

    def hash(self, password: str) -> Deferred[str]:
        return self.later(succeed("hashed:" + password))

    def verify(self, password_hash: str, password: str) -> Deferred[bool]:
        self.checked.append(password)
        return self.later(succeed(password_hash.split(":", 1)[1] == password))

    def needs_rehash(self, password_hash: str) -> bool:
        return password_hash.startswith("old:")


def fake_hasher() -> PasswordHasher:
    """
    A L{FakeHasher}, typed as what the core takes.
    """
    return cast(PasswordHasher, FakeHasher())


class SlowStore(MemoryStore, Later):
    """
    A L{MemoryStore} whose C{history} and C{pending} answer, with what the
    store held when asked, only when the test says (as SQLite's do for
    what is not at hand): while C{holding} (L{Later}), as it is from the
    start.
    """

    holding = True

    def __init__(self) -> None:
        MemoryStore.__init__(self)
        Later.__init__(self)

    def history(self, room: str, limit: int) -> Deferred[list[HistoryEntry]]:
        return self.later(super().history(room, limit))

    def pending(
        self, recipient_key: str, now: float, max_age: float
    ) -> Deferred[list[StoredMessage]]:
        return self.later(super().pending(recipient_key, now, max_age))


@implementer(IConnection)
class FakeConnection:
    """
    An L{IConnection} that records what the core tells it.

    @ivar events: what it was sent and not yet L{take}n.
    @ivar paused: the session asked it to stop reading.
    @ivar ahead: what L{discard_input} says it dropped (a test sets it);
        C{discards} counts its calls.
    """

    ahead = False

    def __init__(self) -> None:
        self.discards = 0
        self.events: list[Event] = []
        self.paused = False
        self.pauses = 0
        self.closed = False
        self.aborted = False

    def deliver(self, event: Event) -> None:
        self.events.append(event)

    def deliver_batch(self, batch: Batch, skip: Sequence[int] | None) -> None:
        mine = set(skip or ())
        self.events += [e for i, e in enumerate(batch.events) if i not in mine]

    def pause_input(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_input(self) -> None:
        self.paused = False

    def discard_input(self) -> bool:
        self.discards += 1
        ahead, self.ahead = self.ahead, False
        return ahead

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class Person(FakeConnection):
    """
    A client of the core as a door drives it: a L{Session} on a
    L{FakeConnection}.

    @ivar session: its session.
    """

    def __init__(
        self,
        core: ChatCore,
        clock: Clock,
        *,
        peer: str = "192.0.2.1",
        secure: bool = False,
        acknowledges: bool = False,
        exempt: bool = False,
    ) -> None:
        super().__init__()
        self._clock = clock
        self._peer = peer
        self.session = core.open_session(
            self, peer, secure=secure, acknowledges=acknowledges, exempt=exempt
        )

    def __str__(self) -> str:
        return self._peer

    def take(self) -> list[Event]:
        """
        What it was sent since the last call, once the turn is over (the
        turn's broadcasts reach it at its end, as in the server).
        """
        self._clock.advance(0)
        events, self.events = self.events, []
        return events


class CoreTestCase(SynchronousTestCase):
    """
    A core as the server builds it, on a clock at L{START}, with a
    L{MemoryStore}, a L{MemorySpool} and a hasher that answers at once.

    Subclasses may set C{store} and C{limits} before L{setUp}.
    """

    store: MemoryStore
    limits = Limits(announce=5, offline_count=3, history_on_join=2)
    keep_history = True

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        if not hasattr(self, "store"):
            self.store = MemoryStore()
        self.spool = MemorySpool()
        #: Answers at once until a test sets its C{holding}.
        self.hasher = self.make_hasher()
        self.core = ChatCore(
            self.clock,
            self.store,
            self.spool,
            cast(PasswordHasher, self.hasher),
            limits=many_per_address(self.limits),
            keep_history=self.keep_history,
        )
        self.successResultOf(self.core.start())

    def make_hasher(self) -> FakeHasher:
        """
        The hasher the core is built with.
        """
        return FakeHasher()

    def connect(self, **kwargs: object) -> Person:
        """
        A new client with no name.
        """
        return Person(self.core, self.clock, **kwargs)  # type: ignore[arg-type]

    def guest(self, name: str, **kwargs: object) -> Person:
        """
        A client online as the guest C{name}; what it was sent is dropped.
        """
        person = self.connect(**kwargs)
        person.session.choose_name(name)
        person.take()
        return person

    def registered(self, name: str, password: str = "sesame1") -> None:
        """
        Register C{name} and leave: it is registered and offline.
        """
        person = self.guest(name)
        person.session.register(password)
        person.session.quit()
        person.take()

    def at_password(self, name: str, **kwargs: object) -> Person:
        """
        A client that asked for the registered C{name} and is asked for its
        password.
        """
        person = self.connect(**kwargs)
        person.session.choose_name(name)
        prompt = person.take()
        assert isinstance(prompt[-1], Prompt) and prompt[-1].what == "password"
        return person

    def log_in(
        self, name: str, password: str = "sesame1", **kwargs: object
    ) -> tuple[Person, list[Event]]:
        """
        A client that logged in as the registered C{name}, and what it was
        sent after the password prompt.
        """
        person = self.at_password(name, **kwargs)
        person.session.log_in(password)
        return person, person.take()

    @staticmethod
    def errors(events: Sequence[Event]) -> list[str]:
        """
        The codes of the errors among C{events}.
        """
        return [e.code for e in events if isinstance(e, Error)]

    @staticmethod
    def of_type(events: Sequence[Event], kind: type[E]) -> list[E]:
        """
        The events of type C{kind} among C{events}.
        """
        return [e for e in events if isinstance(e, kind)]


class NoDelayTransport(StringTransport):
    """
    A L{StringTransport} that records C{setTcpNoDelay}.
    """

    no_delay = False

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay = enabled


class LineTestCase(SynchronousTestCase):
    """
    Several L{ChatProtocol}s sharing one L{ChatFactory} on one L{ChatCore}
    built as the server builds it, on a L{Clock}, with L{StringTransport}s:
    the line door without sockets.  Lines are at most 64 bytes.
    """

    limits = Limits()

    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MemoryStore()
        self.make_factory()
        self.port = 40000

    def make_factory(self, store: MemoryStore | None = None) -> None:
        """
        A new core (on C{store}, if given) and a factory on it.
        """
        if store is not None:
            self.store = store
        self.core = ChatCore(
            self.clock,
            self.store,
            MemorySpool(),
            fake_hasher(),
            limits=many_per_address(self.limits),
        )
        self.successResultOf(self.core.start())
        self.factory = ChatFactory(self.core, max_line_length=64, send_queue_limit=1000)

    def connect(
        self,
        name: str | None = None,
        terminator: bytes = b"\n",
        *,
        exempt: bool = False,
    ) -> tuple[ChatProtocol, NoDelayTransport]:
        """
        A new connection, logged in as C{name} if given (its first line
        ended with C{terminator}), with what it was sent so far cleared.

        @param exempt: it comes from a network exempt from flood control
            (C{--exempt}): for tests that flood on purpose.
        """
        self.port += 1
        protocol = self.factory.buildProtocol(
            IPv4Address("TCP", "127.0.0.1", self.port)
        )
        transport = NoDelayTransport(
            peerAddress=IPv4Address("TCP", "127.0.0.1", self.port)
        )
        protocol.makeConnection(transport)
        protocol.session.exempt = exempt
        if name is not None:
            protocol.dataReceived(name.encode() + terminator)
        self.clock.advance(0)
        transport.clear()
        return protocol, transport

    def received(
        self, transport: StringTransport, terminator: bytes = b"\n"
    ) -> list[str]:
        """
        The lines C{transport} was written, once the turn is over (its
        broadcasts are written at its end, as in the server).
        """
        self.clock.advance(0)
        data: bytes = transport.value()
        transport.clear()
        if not data:
            return []
        self.assertTrue(data.endswith(terminator), data)
        return data[: -len(terminator)].decode("utf-8").split(terminator.decode())

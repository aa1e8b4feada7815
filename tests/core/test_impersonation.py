"""
Names that cannot impersonate (issue 15): who is online, registered names
and rooms refuse names that are, or look like, names already there.
"""

from __future__ import annotations

from typing import cast

from twisted.logger import ILogObserver, LogEvent, LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from chat.core.client import Client
from chat.core.presence import LocalPresence
from chat.errors import InvalidName, LookalikeName, NameInUse
from chat.events import Error, Prompt, RoomEntered, Welcome
from chat.store.interface import Account, RoomRecord
from chat.store.memory import MemoryStore
from tests.support import CoreTestCase, FakeConnection


def client() -> Client:
    """
    A client of the core with no name, on a L{FakeConnection}.
    """
    return Client(FakeConnection(), "192.0.2.1")


class OnlineTests(SynchronousTestCase):
    """
    With C{alice} online, nobody else can be a name that is hers or looks
    like hers.
    """

    def setUp(self) -> None:
        self.presence = LocalPresence()
        self.alice = client()
        self.presence.claim("alice", self.alice)

    def test_same_name(self) -> None:
        """
        Fullwidth, mathematical and upper-case forms are her name: taken.
        """
        for name in ["ａｌｉｃｅ", "𝐚𝐥𝐢𝐜𝐞", "ALICE", "ＡＬＩＣＥ"]:
            self.assertRaises(NameInUse, self.presence.check, name)
            self.assertRaises(NameInUse, self.presence.claim, name, client())
            self.assertIs(self.presence.lookup(name), self.alice)

    def test_lookalikes(self) -> None:
        """
        Names that look like hers (Cyrillic a, dotted capital I, capital I
        for l, 1 for l) are refused, saying whom they look like.
        """
        for name in ["\u0430lice", "ALİCE", "aIice", "a1ice"]:
            with self.assertRaises(LookalikeName) as raised:
                self.presence.claim(name, client())
            self.assertEqual(
                str(raised.exception),
                f"{name} looks like alice, who is online; please choose another name.",
            )
            self.assertEqual(raised.exception.code, "lookalike-name")
            self.assertRaises(LookalikeName, self.presence.check, name)
        self.assertEqual(self.presence.names(), ["alice"])

    def test_invisible(self) -> None:
        """
        Her name with an invisible character is refused as invalid.
        """
        for char in "\u034f\u3164\uffa0\u2800\ufe0f\u200b":
            name = f"alice{char}"
            self.assertRaises(InvalidName, self.presence.claim, name, client())
        self.assertEqual(len(self.presence), 1)

    def test_decomposed(self) -> None:
        """
        A decomposed C{josé} is the precomposed one, who is online.
        """
        self.presence.claim("jos\u00e9", client())
        self.assertRaises(NameInUse, self.presence.claim, "jose\u0301", client())

    def test_released(self) -> None:
        """
        Once she leaves, a name like hers is free (her skeleton left the
        index), and it is shown in its normal form.
        """
        self.presence.release(self.alice)
        other = client()
        self.presence.claim("\u0430lice", other)
        self.assertEqual(other.name, "\u0430lice")
        self.assertRaises(LookalikeName, self.presence.claim, "alice", client())
        bob = client()
        self.presence.claim("ＢＯＢ", bob)
        self.assertEqual((bob.name, bob.key), ("BOB", "bob"))


class LoginTests(CoreTestCase):
    """
    Through the core: a guest cannot take a name like a registered one.
    """

    def test_registered_offline(self) -> None:
        """
        With C{alice} registered and offline, a name like hers is refused,
        saying she is registered; her own name in fullwidth asks for her
        password.
        """
        self.registered("alice")
        person = self.connect()
        person.session.choose_name("\u0430lice")
        [error] = person.take()
        assert isinstance(error, Error)
        self.assertEqual(error.code, "lookalike-name")
        self.assertIn("looks like alice, who is registered", error.text)
        person.session.choose_name("ａｌｉｃｅ")
        [prompt] = person.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual((prompt.what, prompt.name), ("password", "alice"))

    def test_issue_examples_registered(self) -> None:
        """
        With C{alice} and C{josé} registered and offline, every example of
        issue 15 either is one of their names (and is asked its password)
        or is refused: none gets in as a guest.
        """
        self.registered("alice")
        self.registered("jos\u00e9")
        same = {"ａｌｉｃｅ": "alice", "𝐚𝐥𝐢𝐜𝐞": "alice", "jose\u0301": "jos\u00e9"}
        for name, owner in same.items():
            person = self.connect()
            person.session.choose_name(name)
            [prompt] = person.take()
            assert isinstance(prompt, Prompt), name
            self.assertEqual((prompt.what, prompt.name), ("password", owner))
        refused = {
            "\u0430lice": "lookalike-name",
            "ALİCE": "lookalike-name",
            **{f"alice{c}": "invalid-name" for c in "\u034f\u3164\uffa0\u2800\ufe0f"},
        }
        for name, code in refused.items():
            person = self.connect()
            person.session.choose_name(name)
            self.assertEqual(self.errors(person.take()), [code], repr(name))
        self.assertEqual(len(self.core.presence), 0)

    def test_online_guest(self) -> None:
        """
        While the guest C{alice} is online, C{ａｌｉｃｅ} is taken and
        C{аlice} looks like her.
        """
        self.guest("alice")
        person = self.connect()
        person.session.choose_name("ａｌｉｃｅ")
        person.session.choose_name("\u0430lice")
        self.assertEqual(self.errors(person.take()), ["name-in-use", "lookalike-name"])

    def test_welcome_shows_normal_form(self) -> None:
        """
        A guest who typed its name in fullwidth is welcomed, and listed,
        under its plain form.
        """
        person = self.connect()
        person.session.choose_name("ＢＯＢ")
        [welcome] = person.take()
        assert isinstance(welcome, Welcome)
        self.assertEqual((welcome.name, welcome.users), ("BOB", ("BOB",)))
        self.assertEqual(self.core.presence.names(), ["BOB"])

    def test_register_lookalike(self) -> None:
        """
        A guest cannot register a name like a registered one (two guests
        alike cannot both be online, but the other may have been registered
        meanwhile, as by another server sharing the store).
        """
        guest = self.guest("\u0430lice")
        accounts = self.core.accounts
        accounts.names["alice"] = "alice"
        accounts.lookalikes.add("alice", "alice")
        guest.session.register("sesame1")
        self.assertEqual(self.errors(guest.take()), ["lookalike-name"])
        self.assertIsNone(self.core.accounts.registered("\u0430lice"))

    def test_unregistered_frees(self) -> None:
        """
        A name given up leaves the index of registered names.
        """
        alice = self.guest("alice")
        alice.session.register("sesame1")
        alice.session.unregister("sesame1")
        alice.session.quit()
        alice.take()
        person = self.connect()
        person.session.choose_name("\u0430lice")
        self.assertIsInstance(person.take()[0], Welcome)


class GrandfatheredTests(CoreTestCase):
    """
    Two registered names alike from before the rules both keep working.
    """

    def setUp(self) -> None:
        self.store = MemoryStore()
        for key, created in [("alice", 1.0), ("\u0430lice", 2.0)]:
            self.store.create_account(Account(key, key, "hashed:sesame1", created))
        super().setUp()

    def test_both_log_in(self) -> None:
        """
        Each logs in to its own account; a third name like them is refused.
        """
        for name in ["alice", "\u0430lice"]:
            person, events = self.log_in(name)
            self.assertIsInstance(events[0], Welcome)
            self.assertEqual(person.session.name, name)
            person.session.quit()
            person.take()
        person = self.connect()
        person.session.choose_name("a1ice")
        self.assertEqual(self.errors(person.take()), ["lookalike-name"])


class RoomTests(CoreTestCase):
    """
    C{/join #ｓｅｃｒｅｔ} is C{#secret}; a new room cannot look like an
    existing one.
    """

    def test_same_room(self) -> None:
        """
        A fullwidth room name joins the room, not a second one.
        """
        alice, bob = self.guest("alice"), self.guest("bob")
        alice.session.join("#secret")
        alice.take()
        bob.session.join("#ｓｅｃｒｅｔ")
        [entered] = bob.take()
        assert isinstance(entered, RoomEntered)
        self.assertEqual((entered.room, entered.created), ("#secret", False))
        self.assertEqual([r.name for r in self.core.rooms.rooms], ["#secret"])

    def test_new_room_normal_form(self) -> None:
        """
        A room first named in fullwidth is shown in plain letters.
        """
        alice = self.guest("alice")
        alice.session.join("#ＣＨＥＳＳ")
        [entered] = alice.take()
        assert isinstance(entered, RoomEntered)
        self.assertEqual((entered.room, entered.created), ("#CHESS", True))

    def test_lookalike_refused(self) -> None:
        """
        A room like an existing one is refused, naming it; once that one is
        gone, the name is free.
        """
        alice, bob = self.guest("alice"), self.guest("bob")
        alice.session.join("#secret")
        alice.take()
        bob.session.join("#\u0455ecret")
        [error] = bob.take()
        assert isinstance(error, Error)
        self.assertEqual(error.code, "lookalike-room")
        self.assertEqual(
            error.text,
            "#\u0455ecret looks like #secret, which exists; /join #secret, or "
            "choose another room name.",
        )
        self.assertEqual(len(self.core.rooms.rooms), 1)
        alice.session.leave("#secret")
        alice.take()
        bob.session.join("#\u0455ecret")
        self.assertTrue(bob.take()[0].created)  # type: ignore[attr-defined]


class LoadedRoomTests(CoreTestCase):
    """
    Rooms read from the store are in the index.
    """

    def setUp(self) -> None:
        self.store = MemoryStore()
        self.store.create_account(Account("bob", "bob", "hashed:sesame1", 1.0))
        self.store.save_room(RoomRecord("#secret", "#secret", "bob", "", False, 1.0))
        super().setUp()

    def test_loaded(self) -> None:
        """
        A room kept by the store (its owner registered) refuses lookalikes.
        """
        carol = self.guest("carol")
        carol.session.join("#\u0455ecret")
        self.assertEqual(self.errors(carol.take()), ["lookalike-room"])


class SetAsideTests(CoreTestCase):
    """
    An account the store's upgrade set aside (its key is no name's key) is
    not a registered name.
    """

    def setUp(self) -> None:
        self.store = MemoryStore()
        self.store.create_account(Account("alice", "alice", "hashed:sesame1", 1.0))
        self.store.create_account(Account("*alice", "alice", "hashed:other", 2.0))
        self.events: list[LogEvent] = []
        observer = cast(ILogObserver, self.events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        super().setUp()

    def test_skipped(self) -> None:
        """
        Only the account that follows the rules is registered; the other
        is logged; C{alice} logs in to hers.
        """
        self.assertEqual(self.core.accounts.names, {"alice": "alice"})
        self.assertEqual(len(self.core.accounts.lookalikes), 1)
        [warning] = [e for e in self.events if e.get("key") == "*alice"]
        self.assertEqual(warning["log_level"], LogLevel.warn)
        person, events = self.log_in("alice")
        self.assertIsInstance(events[0], Welcome)

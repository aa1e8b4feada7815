"""
Tests for L{chat.core.accounts}: registering, changing and giving up a
name, and the throttling of wrong passwords, through the session API.
"""

from __future__ import annotations

from chat.events import AccountChanged, Error, Prompt, Welcome
from tests.support import CoreTestCase


class RegisterTests(CoreTestCase):
    """
    C{register}: a guest reserves its name.
    """

    def test_register(self) -> None:
        """
        C{register} reserves the name as typed, saying that the password
        travelled in clear on a plain connection; only a hash is stored.
        """
        alice = self.guest("Alice")
        alice.session.register("sesame1")
        [event] = alice.take()
        assert isinstance(event, AccountChanged)
        self.assertEqual(
            (event.action, event.name, event.insecure), ("registered", "Alice", True)
        )
        self.assertEqual(self.core.accounts.names, {"alice": "Alice"})
        account = self.successResultOf(self.store.get_account("alice"))
        assert account is not None
        self.assertEqual(account.password_hash, "hashed:sesame1")

    def test_register_on_tls(self) -> None:
        """
        Over TLS there is no warning.
        """
        alice = self.guest("alice", secure=True)
        alice.session.register("sesame1")
        [event] = alice.take()
        assert isinstance(event, AccountChanged)
        self.assertFalse(event.insecure)

    def test_register_refusals(self) -> None:
        """
        Passwords too short, too long, empty or with spaces or control
        characters are refused, as is registering a name twice.
        """
        alice = self.guest("alice")
        bad = ["abc", "two words", "", "x" * 257, "tab\there", "bell\x07xx"]
        for password in bad:
            alice.session.register(password)
        self.assertEqual(self.errors(alice.take()), ["usage"] * len(bad))
        self.assertEqual(self.core.accounts.names, {})
        alice.session.register("sesame1")
        alice.session.register("other12")
        events = alice.take()
        self.assertEqual(self.errors(events), ["usage"])
        self.assertIsInstance(events[0], AccountChanged)
        account = self.successResultOf(self.store.get_account("alice"))
        assert account is not None
        self.assertEqual(account.password_hash, "hashed:sesame1")

    def test_register_taken_meanwhile(self) -> None:
        """
        A name the store has registered already (the names at hand did not
        know it) is refused with the store's code, and its password kept.
        """
        self.registered("bob", "sesame1")
        self.core.accounts.names.pop("bob")
        bob = self.guest("bob")
        bob.session.register("other12")
        self.assertEqual(self.errors(bob.take()), ["account-exists"])
        account = self.successResultOf(self.store.get_account("bob"))
        assert account is not None
        self.assertEqual(account.password_hash, "hashed:sesame1")


class PasswordTests(CoreTestCase):
    """
    C{change_password} and C{unregister}.
    """

    def test_guest(self) -> None:
        """
        A guest has no password to change or give up.
        """
        alice = self.guest("alice")
        alice.session.change_password("sesame1", "newpass1")
        alice.session.unregister("sesame1")
        self.assertEqual(
            self.errors(alice.take()), ["no-such-account", "no-such-account"]
        )

    def test_change_password(self) -> None:
        """
        C{change_password} needs the old password and a valid new one; the
        new one lets the name in from then on.
        """
        alice = self.guest("alice")
        alice.session.register("sesame1")
        alice.take()
        alice.session.change_password("wrong99", "newpass1")
        alice.session.change_password("sesame1", "new")
        self.assertEqual(self.errors(alice.take()), ["wrong-password", "usage"])
        alice.session.change_password("sesame1", "newpass1")
        [changed] = alice.take()
        assert isinstance(changed, AccountChanged)
        self.assertEqual((changed.action, changed.name), ("password-changed", "alice"))
        alice.session.quit()
        _, events = self.log_in("alice", "sesame1")
        self.assertEqual(self.errors(events), ["wrong-password"])
        _, events = self.log_in("alice", "newpass1")
        self.assertIsInstance(events[0], Welcome)

    def test_unregister(self) -> None:
        """
        C{unregister} needs the password, and then frees the name for
        guests.
        """
        alice = self.guest("alice")
        alice.session.register("sesame1")
        alice.take()
        alice.session.unregister("wrong99")
        self.assertEqual(self.errors(alice.take()), ["wrong-password"])
        alice.session.unregister("sesame1")
        [gone] = alice.take()
        assert isinstance(gone, AccountChanged)
        self.assertEqual((gone.action, gone.name), ("unregistered", "alice"))
        self.assertEqual(self.core.accounts.names, {})
        self.assertIsNone(self.successResultOf(self.store.get_account("alice")))
        alice.session.quit()
        guest = self.connect()
        guest.session.choose_name("alice")
        self.assertIsInstance(guest.take()[0], Welcome)


class ThrottleTests(CoreTestCase):
    """
    Wrong passwords are limited per name and per address.
    """

    def test_throttled_per_name(self) -> None:
        """
        After five wrong passwords for a name within a minute, the name is
        refused at once until the minute is over.
        """
        self.registered("alice")
        for i in range(self.limits.tries_per_name):
            self.log_in("alice", "wrong99", peer=f"198.51.100.{i}")
        checked = len(self.hasher.checked)
        _, events = self.log_in("alice")
        self.assertEqual(self.errors(events), ["throttled"])
        self.assertEqual(len(self.hasher.checked), checked)
        self.clock.advance(self.limits.tries_window + 1)
        _, events = self.log_in("alice")
        self.assertIsInstance(events[0], Welcome)

    def test_throttled_per_address(self) -> None:
        """
        Twenty wrong passwords from one address, for any names, stop that
        address; others may still log in.
        """
        names = [f"user{i}" for i in range(5)]
        for name in names:
            self.registered(name)
        for i in range(self.limits.tries_per_address):
            self.log_in(names[i % 5], "wrong99", peer="203.0.113.9")
        _, events = self.log_in("user0", peer="203.0.113.9")
        self.assertEqual(self.errors(events), ["throttled"])
        other, events = self.log_in("user1", peer="198.51.100.7")
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(other.session.name, "user1")
        self.clock.advance(self.limits.tries_window + 1)
        _, events = self.log_in("user0", peer="203.0.113.9")
        self.assertIsInstance(events[0], Welcome)

    def test_throttle_says_when(self) -> None:
        """
        The refusal says how many seconds are left.
        """
        self.registered("alice")
        for _ in range(self.limits.tries_per_name):
            self.log_in("alice", "wrong99")
        self.clock.advance(20)
        _, events = self.log_in("alice", peer="198.51.100.1")
        [error] = self.of_type(events, Error)
        self.assertEqual(
            error.text, "too many wrong passwords; try again in 41 seconds."
        )

    def test_right_password_forgives(self) -> None:
        """
        A right password forgets the name's wrong ones.
        """
        self.registered("alice")
        for i in range(self.limits.tries_per_name - 1):
            self.log_in("alice", "wrong99", peer=f"198.51.100.{i}")
        alice, _ = self.log_in("alice")
        alice.session.quit()
        _, events = self.log_in("alice", "wrong99", peer="198.51.100.200")
        self.assertEqual(self.errors(events), ["wrong-password"])
        client = self.connect(peer="198.51.100.201")
        client.session.choose_name("alice")
        self.assertIsInstance(client.take()[0], Prompt)

    def test_wrong_passwords_of_account_requests(self) -> None:
        """
        Wrong passwords given to C{change_password} and C{unregister}
        count too.
        """
        alice = self.guest("alice")
        alice.session.register("sesame1")
        for _ in range(self.limits.tries_per_name):
            alice.session.unregister("wrong99")
        alice.session.change_password("sesame1", "newpass1")
        events = alice.take()
        self.assertEqual(self.errors(events)[-2:], ["wrong-password", "throttled"])


class RehashTests(CoreTestCase):
    """
    Hashes made with older costs are replaced at login.
    """

    def test_rehash(self) -> None:
        """
        A hash made with old parameters is replaced at the next login.
        """
        self.registered("alice")
        self.successResultOf(self.store.set_password_hash("alice", "old:sesame1"))
        self.log_in("alice")
        account = self.successResultOf(self.store.get_account("alice"))
        assert account is not None
        self.assertEqual(account.password_hash, "hashed:sesame1")

    def test_no_rehash(self) -> None:
        """
        A current hash is left alone, and a wrong password replaces
        nothing.
        """
        self.registered("alice")
        self.successResultOf(self.store.set_password_hash("alice", "old:sesame1"))
        self.log_in("alice", "wrong99")
        account = self.successResultOf(self.store.get_account("alice"))
        assert account is not None
        self.assertEqual(account.password_hash, "old:sesame1")

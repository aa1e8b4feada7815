"""
Tests for L{chat.core.logins}: choosing a name, the welcome, join and
leave notices, quitting, C{users}, and the login to a registered name,
all through the session API.
"""

from __future__ import annotations

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher

from chat.core.client import CLOSED, LOGGING_IN, NAMELESS, ONLINE, PASSWORD
from chat.core.logins import DISCARDED
from chat.events import (
    Error,
    Goodbye,
    Joined,
    Left,
    Prompt,
    StoredEnd,
    UserList,
    Welcome,
)
from tests.support import START, CoreTestCase


class NameTests(CoreTestCase):
    """
    A new client's first request is for a name.
    """

    def test_welcome_and_announce(self) -> None:
        """
        The newcomer is welcomed with who is online; the others are told.
        """
        alice = self.guest("alice")
        bob = self.connect()
        bob.session.choose_name("Bob")
        [welcome] = bob.take()
        assert isinstance(welcome, Welcome)
        self.assertEqual(
            (welcome.name, welcome.users, welcome.count), ("Bob", ("alice", "Bob"), 2)
        )
        self.assertEqual(welcome.time, START)
        [joined] = alice.take()
        assert isinstance(joined, Joined)
        self.assertEqual(joined.name, "Bob")
        self.assertEqual((bob.session.name, bob.session.state), ("Bob", ONLINE))

    def test_logged(self) -> None:
        """
        An accepted name is logged in seed 000's words.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        self.guest("alice")
        [joined] = [e for e in events if "log_format" in e and "name" in e]
        self.assertEqual(joined["log_format"], "{name} just joined the chat")
        self.assertEqual(joined["name"], "alice")

    def test_refused_names(self) -> None:
        """
        Invalid, reserved and taken names are refused with a reason, nobody
        is told, and the client may try again.
        """
        alice = self.guest("alice")
        bob = self.connect()
        for name in ("ALL", "ALICE", "b o b"):
            bob.session.choose_name(name)
        events = bob.take()
        self.assertEqual(
            self.errors(events), ["reserved-name", "name-in-use", "invalid-name"]
        )
        self.assertEqual(len(events), 3)
        self.assertEqual(alice.take(), [])
        self.assertIsNone(bob.session.name)
        self.assertIs(bob.session.state, NAMELESS)
        bob.session.choose_name("bob")
        self.assertIsInstance(bob.take()[0], Welcome)
        self.assertEqual(bob.session.name, "bob")

    def test_requests_before_name(self) -> None:
        """
        Requests that need a name are refused until the client has one;
        it stays nameless.
        """
        alice = self.guest("alice")
        client = self.connect()
        client.session.users()
        client.session.say("hi")
        self.assertEqual(self.errors(client.take()), ["not-joined", "not-joined"])
        self.assertEqual(alice.take(), [])
        self.assertIsNone(client.session.name)

    def test_choose_name_twice(self) -> None:
        """
        A client online cannot choose another name; it keeps its own.
        """
        alice = self.guest("alice")
        alice.session.choose_name("alicia")
        self.assertEqual(self.errors(alice.take()), ["usage"])
        self.assertEqual(alice.session.name, "alice")
        self.assertEqual(self.core.presence.names(), ["alice"])

    def test_announce_limit(self) -> None:
        """
        Above L{Limits.announce} users online, joins and leaves are not
        announced, so a login costs O(1) deliveries.
        """
        self.assertEqual(self.limits.announce, 5)
        people = [self.guest(f"u{i}") for i in range(5)]
        for person in people:
            person.take()
        late = self.connect()
        late.session.choose_name("late")
        self.assertEqual([p.take() for p in people], [[]] * 5)
        late.session.quit()
        self.assertEqual([p.take() for p in people], [[]] * 5)
        people[0].session.quit()
        [left] = people[1].take()
        assert isinstance(left, Left)
        self.assertEqual(left.name, "u0")

    def test_welcome_lists_at_most(self) -> None:
        """
        The welcome lists names only while few are online; the count is
        always there.
        """
        most = self.limits.welcome_list
        for i in range(most - 1):
            self.guest(f"u{i}")
        listed = self.connect()
        listed.session.choose_name("listed")
        [welcome] = self.of_type(listed.take(), Welcome)
        self.assertEqual((len(welcome.users), welcome.count), (most, most))
        last = self.connect()
        last.session.choose_name("last")
        [welcome] = self.of_type(last.take(), Welcome)
        self.assertEqual((welcome.users, welcome.count), ((), most + 1))


class LeavingTests(CoreTestCase):
    """
    Quitting, and connections that close.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.guest("alice")
        self.bob = self.guest("bob")
        self.alice.take()

    def test_quit(self) -> None:
        """
        C{quit} with a reason says goodbye, tells the others, frees the
        name and closes the connection; its closing later tells nobody.
        """
        self.bob.session.quit("gotta go")
        [goodbye] = self.bob.take()
        assert isinstance(goodbye, Goodbye)
        self.assertEqual(goodbye.reason, "gotta go")
        self.assertTrue(self.bob.closed)
        [left] = self.alice.take()
        assert isinstance(left, Left)
        self.assertEqual((left.name, left.reason), ("bob", "gotta go"))
        self.assertNotIn(self.bob.session, self.core.presence.everyone())
        self.assertIs(self.bob.session.state, CLOSED)
        self.bob.session.closed(delivered=True)
        self.assertEqual(self.alice.take(), [])

    def test_quit_without_reason(self) -> None:
        """
        A C{quit} without a reason is announced as C{"quit"}.
        """
        self.bob.session.quit()
        self.assertTrue(self.bob.closed)
        [left] = self.alice.take()
        assert isinstance(left, Left)
        self.assertEqual(left.reason, "quit")

    def test_connection_closed(self) -> None:
        """
        A connection that closes leaves with the door's reason, and the
        name is free again.
        """
        self.bob.session.closed("connection lost", delivered=False)
        [left] = self.alice.take()
        assert isinstance(left, Left)
        self.assertEqual((left.name, left.reason), ("bob", "connection lost"))
        self.assertEqual(self.core.presence.names(), ["alice"])
        self.assertFalse(self.bob.closed)
        self.guest("bob")
        self.assertEqual(self.core.presence.names(), ["alice", "bob"])

    def test_requests_after_quit(self) -> None:
        """
        What a session is asked after it quit is not carried out.
        """
        self.bob.session.quit()
        self.bob.take()
        self.alice.take()
        self.bob.session.say("still here?")
        self.bob.session.users()
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(self.alice.take(), [])

    def test_nameless_quit(self) -> None:
        """
        A client without a name may quit; nobody is told.
        """
        client = self.connect()
        client.session.quit()
        self.assertEqual(self.of_type(client.take(), Goodbye)[0].reason, None)
        self.assertTrue(client.closed)
        self.assertEqual(self.alice.take(), [])


class UsersTests(CoreTestCase):
    """
    C{users}: who is online.
    """

    def test_users(self) -> None:
        """
        C{users} lists everyone, sorted case-insensitively, to the asker
        only.
        """
        alice = self.guest("alice")
        carol = self.guest("carol")
        bob = self.guest("Bob")
        alice.take()
        carol.take()
        alice.session.users()
        [listed] = alice.take()
        assert isinstance(listed, UserList)
        self.assertEqual(listed.users, ("alice", "Bob", "carol"))
        self.assertEqual(bob.take() + carol.take(), [])


class LoginTests(CoreTestCase):
    """
    The login to a registered name: name, password prompt, password.
    """

    def setUp(self) -> None:
        super().setUp()
        self.registered("alice")

    def test_right_password(self) -> None:
        """
        A registered name is asked for its password (with the in-clear
        warning); the right one lets it in, with a count of stored
        messages.
        """
        client = self.connect()
        client.session.choose_name("ALICE")
        [prompt] = client.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual(
            (prompt.what, prompt.name, prompt.insecure), ("password", "alice", True)
        )
        self.assertIsNone(client.session.name)
        self.assertIs(client.session.state, PASSWORD)
        client.session.log_in("sesame1")
        events = client.take()
        self.assertIsInstance(events[0], Welcome)
        self.assertIsInstance(events[-1], StoredEnd)
        self.assertEqual(client.session.name, "alice")
        self.assertIs(client.session.state, ONLINE)

    def test_prompt_on_tls(self) -> None:
        """
        Over TLS the password prompt carries no warning.
        """
        client = self.connect(secure=True)
        client.session.choose_name("alice")
        [prompt] = client.take()
        assert isinstance(prompt, Prompt)
        self.assertFalse(prompt.insecure)

    def test_wrong_password(self) -> None:
        """
        A wrong password is refused and the name asked for again; the name
        stays free and the next thing the client gives is a name.
        """
        client, events = self.log_in("alice", "nope123")
        self.assertEqual(self.errors(events), ["wrong-password"])
        prompt = events[-1]
        assert isinstance(prompt, Prompt)
        self.assertEqual(prompt.what, "name")
        self.assertIsNone(client.session.name)
        self.assertIs(client.session.state, NAMELESS)
        self.assertEqual(len(self.core.presence), 0)
        client.session.log_in("sesame1")
        self.assertEqual(self.errors(client.take()), ["usage"])
        self.assertEqual(len(self.core.presence), 0)

    def test_password_not_asked(self) -> None:
        """
        A password nobody asked for is refused: a guest name gets no
        password, nor does a client online.
        """
        client = self.connect()
        client.session.log_in("sesame1")
        self.assertEqual(self.errors(client.take()), ["usage"])
        bob = self.guest("bob")
        bob.session.log_in("sesame1")
        self.assertEqual(self.errors(bob.take()), ["usage"])
        self.assertEqual(bob.session.name, "bob")

    def test_guest_cannot_take_registered_name(self) -> None:
        """
        Asking for a registered name leads to the password prompt, never
        straight in; quitting there leaves nobody online.
        """
        guest = self.connect()
        guest.session.choose_name("alice")
        [prompt] = guest.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual((prompt.what, prompt.name), ("password", "alice"))
        self.assertIsNone(guest.session.name)
        self.assertEqual(self.core.presence.names(), [])
        guest.session.quit()
        self.assertTrue(guest.closed)
        self.assertIsNone(guest.session.name)
        self.assertEqual(len(self.core.presence), 0)

    def test_other_name_at_prompt(self) -> None:
        """
        At the password prompt the client may give another name instead:
        a guest name lets it in and the registered one is no longer asked
        for.
        """
        client = self.connect()
        client.session.choose_name("alice")
        client.take()
        client.session.choose_name("bob")
        self.assertIsInstance(client.take()[0], Welcome)
        self.assertEqual(client.session.name, "bob")
        self.assertIsNone(client.session.asked)
        client.session.log_in("sesame1")
        self.assertEqual(self.errors(client.take()), ["usage"])

    def test_registered_name_online(self) -> None:
        """
        A registered name that is online is still answered with the
        password prompt (so what the client sends next is taken for the
        password it is); the password is then refused unchecked, and the
        name asked for.
        """
        self.log_in("alice")
        other = self.connect()
        other.session.choose_name("alice")
        [prompt] = other.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual(prompt.what, "password")
        checked = len(self.hasher.checked)
        other.session.log_in("sesame1")
        events = other.take()
        self.assertEqual(self.errors(events), ["name-in-use"])
        self.assertEqual([e.what for e in self.of_type(events, Prompt)], ["name"])
        self.assertEqual(len(self.hasher.checked), checked)
        self.assertIs(other.session.state, NAMELESS)

    def test_others_told_after_login(self) -> None:
        """
        The others are told of a registered user only once it logged in.
        """
        bob = self.guest("bob")
        client = self.connect()
        client.session.choose_name("alice")
        self.assertEqual(bob.take(), [])
        client.session.log_in("sesame1")
        [joined] = bob.take()
        assert isinstance(joined, Joined)
        self.assertEqual(joined.name, "alice")


class WaitingLoginTests(CoreTestCase):
    """
    The login while the password is being checked.
    """

    def test_logging_in(self) -> None:
        """
        While its password is checked the client is logging in: not online,
        the name not taken.
        """
        self.registered("alice")
        self.hasher.holding = True
        client = self.connect()
        client.session.choose_name("alice")
        client.take()
        client.session.log_in("sesame1")
        self.assertEqual(client.take(), [])
        self.assertIs(client.session.state, LOGGING_IN)
        self.assertEqual(self.core.presence.names(), [])
        self.hasher.answer()
        self.assertIsInstance(client.take()[0], Welcome)
        self.assertIs(client.session.state, ONLINE)

    def test_closed_while_logging_in(self) -> None:
        """
        A client whose connection closes while its password is checked is
        not let in when the check answers, and nobody is told.
        """
        self.registered("alice")
        bob = self.guest("bob")
        self.hasher.holding = True
        client = self.connect()
        client.session.choose_name("alice")
        client.take()
        client.session.log_in("sesame1")
        client.session.closed(delivered=False)
        self.hasher.answer()
        self.assertEqual(client.take(), [])
        self.assertEqual(bob.take(), [])
        self.assertEqual(self.core.presence.names(), ["bob"])
        self.assertIs(client.session.state, CLOSED)

    def test_wrong_password_answered_later(self) -> None:
        """
        A wrong password found later sends the client back to the name,
        and what it asked meanwhile (sent ahead: a retyped password, say)
        is discarded, never taken for a name or a message; what it asks
        afterwards is new.
        """
        self.registered("alice")
        bob = self.guest("bob")
        self.hasher.holding = True
        client = self.connect()
        client.session.choose_name("alice")
        client.take()
        client.session.log_in("wrong99")
        client.session.choose_name("Hunter2secret")
        client.session.say("Hunter2secret")
        self.assertEqual(bob.take(), [])
        self.hasher.answer()
        events = client.take()
        self.assertEqual([type(e) for e in events], [Error, Prompt])
        [error] = self.of_type(events, Error)
        self.assertEqual(error.code, "wrong-password")
        self.assertTrue(error.text.endswith(DISCARDED), error)
        self.assertIsNone(client.session.name)
        self.assertEqual(bob.take(), [])
        client.session.choose_name("carol")
        self.assertIsInstance(client.take()[0], Welcome)
        self.assertEqual(
            [(type(e), getattr(e, "name", None)) for e in bob.take()],
            [(Joined, "carol")],
        )

    def test_same_name_at_once(self) -> None:
        """
        Of two clients logging in to one name at once, the first is
        checked and gets in; the other is refused at once, unchecked, as
        throttled (one check per name at a time), and asked for a name
        again.
        """
        self.registered("alice")
        self.hasher.holding = True
        first = self.at_password("alice")
        second = self.at_password("alice", peer="198.51.100.2")
        first.session.log_in("sesame1")
        second.session.log_in("sesame1")
        self.hasher.answer()
        self.assertEqual(self.hasher.waiting, [])
        self.assertIsInstance(first.take()[0], Welcome)
        events = second.take()
        self.assertEqual(self.errors(events), ["throttled"])
        prompt = events[-1]
        assert isinstance(prompt, Prompt)
        self.assertEqual(prompt.what, "name")
        self.assertIs(second.session.state, NAMELESS)
        self.assertIs(self.core.presence.lookup("alice"), first.session)

    def test_check_fails(self) -> None:
        """
        A password check that fails unexpectedly (a corrupt hash, the store
        away) is an internal error, and the client is asked for the
        password still: what it gives next is not taken for a name.
        """
        self.registered("alice")
        bob = self.guest("bob")
        self.hasher.holding = True
        client = self.at_password("alice")
        client.session.log_in("sesame1")
        self.hasher.fail_next(RuntimeError("not an argon2 hash"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.errors(client.take()), ["internal"])
        self.assertIs(client.session.state, PASSWORD)
        self.assertEqual(self.core.presence.names(), ["bob"])
        self.hasher.holding = False
        client.session.log_in("sesame1")
        self.assertIsInstance(client.take()[0], Welcome)
        self.assertEqual(self.of_type(bob.take(), Joined)[0].name, "alice")


class PipelinedLoginTests(CoreTestCase):
    """
    What a client sends ahead of the answer to a login step (its password,
    pipelined after its name) is never taken for a name or a message
    (issue 15).
    """

    def setUp(self) -> None:
        super().setUp()
        self.registered("alice")
        self.bob = self.guest("bob")

    def throttle(self, name: str = "alice") -> None:
        """
        Make C{name} throttled: as many wrong passwords as it may have.
        """
        for i in range(self.limits.tries_per_name):
            self.log_in(name, "wrong99", peer=f"198.51.100.{i}")

    def test_throttled_name_asks_for_the_password(self) -> None:
        """
        A throttled registered name is answered with the password prompt
        all the same; the password is read, refused unchecked as
        throttled, and the name asked for again.
        """
        self.throttle()
        checked = len(self.hasher.checked)
        client = self.connect()
        client.session.choose_name("alice")
        [prompt] = client.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual((prompt.what, prompt.name), ("password", "alice"))
        client.session.log_in("Hunter2secret")
        events = client.take()
        [error] = self.of_type(events, Error)
        self.assertEqual(
            (error.code, error.text),
            ("throttled", "too many wrong passwords; try again in 61 seconds."),
        )
        self.assertEqual([e.what for e in self.of_type(events, Prompt)], ["name"])
        self.assertEqual(len(self.hasher.checked), checked)
        self.assertIs(client.session.state, NAMELESS)
        self.assertIsNone(client.session.name)
        self.assertEqual(self.bob.take(), [])

    def test_refused_names_discard(self) -> None:
        """
        A refused name (invalid, reserved, taken) discards what the client
        sent ahead, and says so when there was something.
        """
        client = self.connect()
        for name in ("grace ", "ALL", "BOB"):
            client.ahead = True
            client.session.choose_name(name)
        errors = self.of_type(client.take(), Error)
        self.assertEqual(
            [e.code for e in errors], ["invalid-name", "reserved-name", "name-in-use"]
        )
        for error in errors:
            self.assertTrue(error.text.endswith(" " + DISCARDED), error.text)
        self.assertEqual(client.discards, 3)
        client.session.choose_name("grace ")
        [error] = self.of_type(client.take(), Error)
        self.assertNotIn(DISCARDED, error.text)
        self.assertEqual(client.discards, 4)

    def test_wrong_password_discards(self) -> None:
        """
        A wrong password discards what the client sent ahead (a retyped
        password would be taken for a name), and the name is asked again.
        """
        client = self.at_password("alice")
        client.ahead = True
        client.session.log_in("wrong99")
        events = client.take()
        [error] = self.of_type(events, Error)
        self.assertEqual(
            error.text, f"wrong password for alice; enter a name again. {DISCARDED}"
        )
        self.assertEqual(client.discards, 1)

    def test_throttled_and_in_use_discard(self) -> None:
        """
        A throttled password, and a registered name found online once the
        password is read, discard what was sent ahead too.
        """
        alice, _ = self.log_in("alice")
        client = self.at_password("alice", peer="198.51.100.99")
        client.ahead = True
        client.session.log_in("Hunter2secret")
        [error] = self.of_type(client.take(), Error)
        self.assertEqual(error.code, "name-in-use")
        self.assertTrue(error.text.endswith(DISCARDED))
        alice.session.quit()
        self.throttle()
        client = self.at_password("alice", peer="198.51.100.98")
        client.session.log_in("Hunter2secret")
        self.assertEqual(self.errors(client.take()), ["throttled"])
        self.assertEqual(client.discards, 1)

    def test_queued_requests_discarded(self) -> None:
        """
        Requests the session keeps while a password is checked (the door
        gave them ahead) are dropped when it is refused; the session goes
        on with what comes later.
        """
        self.hasher.holding = True
        client = self.at_password("alice")
        client.session.log_in("wrong99")
        self.assertTrue(client.paused)
        client.session.choose_name("Hunter2secret")
        client.session.say("Hunter2secret")
        self.hasher.answer()
        events = client.take()
        self.assertEqual(self.errors(events), ["wrong-password"])
        self.assertTrue(self.of_type(events, Error)[0].text.endswith(DISCARDED))
        self.assertFalse(client.paused)
        self.assertIsNone(client.session.name)
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(self.core.presence.names(), ["bob"])

    def test_check_fails_discards(self) -> None:
        """
        A check that fails unexpectedly discards what was sent ahead: the
        next line is the password again, typed anew.
        """
        self.hasher.holding = True
        client = self.at_password("alice")
        client.session.log_in("sesame1")
        client.session.log_in("sesame1")
        self.hasher.fail_next(RuntimeError("not an argon2 hash"))
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(self.errors(client.take()), ["internal"])
        self.assertEqual(client.discards, 1)
        self.assertEqual(self.hasher.waiting, [])
        self.assertIs(client.session.state, PASSWORD)

    def test_password_never_logged(self) -> None:
        """
        No log line carries a password, whatever happens to it.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        self.log_in("alice", "Hunter2wrong")
        self.throttle()
        self.log_in("alice", "Hunter2throttled", peer="198.51.100.50")
        self.clock.advance(self.limits.tries_window)
        self.log_in("alice")
        self.log_in("alice", "Hunter2inuse", peer="198.51.100.51")
        text = repr(list(events))
        self.assertIn("wrong password", text)
        self.assertNotIn("Hunter2", text)


class PromptTests(CoreTestCase):
    """
    Enter at a prompt asks again; a door may ask again after switching
    format (issue 15).
    """

    def test_blank_name(self) -> None:
        """
        An empty or blank name is answered with the name prompt, no error.
        """
        client = self.connect()
        for blank in ("", "  ", "\t"):
            client.session.choose_name(blank)
            [prompt] = client.take()
            assert isinstance(prompt, Prompt)
            self.assertEqual(prompt.what, "name")
        self.assertIs(client.session.state, NAMELESS)
        self.assertEqual(client.discards, 0)

    def test_blank_password(self) -> None:
        """
        An empty password is asked for again, unchecked and uncounted.
        """
        self.registered("alice")
        client = self.at_password("alice")
        client.session.log_in("")
        [prompt] = client.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual((prompt.what, prompt.name), ("password", "alice"))
        self.assertEqual(self.hasher.checked, [])
        client.session.log_in("sesame1")
        self.assertIsInstance(client.take()[0], Welcome)

    def test_ask_again(self) -> None:
        """
        C{ask_again} sends the prompt for what the client is asked now.
        """
        self.registered("alice")
        client = self.connect(secure=True)
        client.session.ask_again()
        self.assertEqual(
            [e.what for e in self.of_type(client.take(), Prompt)], ["name"]
        )
        client.session.choose_name("alice")
        client.take()
        client.session.ask_again()
        [prompt] = client.take()
        assert isinstance(prompt, Prompt)
        self.assertEqual(
            (prompt.what, prompt.name, prompt.insecure), ("password", "alice", False)
        )
        client.session.log_in("sesame1")
        client.take()
        client.session.ask_again()
        self.assertEqual(client.take(), [])

"""
Tests for rooms in the chat core (L{chat.core.rooms}), through the typed
session API, over a L{MemoryStore} with a clock.
"""

from __future__ import annotations

from dataclasses import replace

from twisted.internet.defer import Deferred

from chat.core.core import ChatCore
from chat.core.rooms import Room
from chat.events import (
    Error,
    Goodbye,
    Joined,
    Left,
    Message,
    Past,
    PastEnd,
    RoomEntered,
    RoomInvite,
    RoomInvited,
    RoomJoined,
    RoomLeft,
    RoomList,
    RoomMembers,
    RoomMessage,
    RoomMode,
    RoomOp,
    RoomTopic,
    UserList,
    Welcome,
)
from chat.store.interface import Membership, RoomRecord
from chat.store.memory import MemoryStore
from chat.store.spool import MemorySpool
from tests.support import START, CoreTestCase, Later, Person, fake_hasher


class RoomsTestCase(CoreTestCase):
    """
    Alice, Bob and Carol online as guests.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.guest("alice")
        self.bob = self.guest("bob")
        self.carol = self.guest("carol")
        for person in (self.alice, self.bob, self.carol):
            person.take()

    def in_room(self, *people: Person, room: str = "#chess") -> None:
        """
        Everyone in C{people} joins C{room}, the first creating it; what
        they and the others were sent so far is dropped.
        """
        for person in people:
            person.session.join(room)
        for person in (self.alice, self.bob, self.carol, *people):
            person.take()

    def room(self, name: str = "#chess") -> Room:
        """
        The room called C{name}, which must exist.
        """
        room = self.core.rooms.get(name)
        assert room is not None
        return room

    def member(self, name: str, password: str = "sesame1") -> Person:
        """
        A guest called C{name} that registered its name and stays online.
        """
        person = self.guest(name)
        person.session.register(password)
        person.take()
        return person

    def drop(self, person: Person, reason: str = "connection closed") -> None:
        """
        C{person}'s connection closes (cleanly) without a goodbye.
        """
        person.session.closed(reason, delivered=True)


class TextLimitTests(RoomsTestCase):
    """
    L{Limits.text_max}, for every door: messages and actions over it are
    refused, reasons over it are cut; nothing may be empty.
    """

    limits = replace(CoreTestCase.limits, text_max=10)

    def test_messages(self) -> None:
        """
        Messages to everyone, to one person and to a room, and actions, of
        at most C{text_max} characters are sent; longer or empty ones are
        refused, and nobody gets them.
        """
        self.in_room(self.alice, self.bob)
        alice = self.alice.session
        alice.say("x" * 10)
        alice.whisper("bob", "x" * 10)
        alice.say_in("#chess", "x" * 10)
        alice.action("x" * 10)
        self.assertEqual(self.errors(self.alice.take()), [])
        self.assertEqual(len(self.bob.take()), 4)
        alice.say("x" * 11)
        alice.whisper("bob", "x" * 11)
        alice.say_in("#chess", "x" * 11)
        alice.action("x" * 11)
        alice.say("")
        alice.whisper("bob", "")
        alice.say_in("#chess", "")
        self.assertEqual(self.errors(self.alice.take()), ["usage"] * 7)
        self.assertEqual(self.bob.take(), [])

    def test_reasons_cut(self) -> None:
        """
        Leaving, kicking and quitting are never refused for their reason:
        it is cut to C{text_max}.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.alice.session.kick("bob", "#chess", "k" * 20)
        self.carol.session.leave("#chess", "l" * 20)
        self.alice.session.quit("q" * 20)
        reasons = [
            e.reason for e in self.alice.take() if isinstance(e, (RoomLeft, Goodbye))
        ]
        self.assertEqual(reasons, ["k" * 10, "l" * 10, "q" * 10])


class MembershipTests(RoomsTestCase):
    """
    Joining, talking in and leaving rooms.
    """

    def test_create(self) -> None:
        """
        Joining a new room creates it, owned by the asker, and says so.
        """
        self.alice.session.join("#Chess")
        [entered] = self.alice.take()
        assert isinstance(entered, RoomEntered)
        self.assertEqual(
            (entered.room, entered.created, entered.owner, entered.members),
            ("#Chess", True, "alice", ("alice",)),
        )
        self.assertEqual(self.bob.take(), [])

    def test_join(self) -> None:
        """
        Joining an existing room (any case) lists its members to the joiner
        and tells the members; joining it again is refused.
        """
        self.in_room(self.alice)
        self.bob.session.join("#CHESS")
        [entered] = self.bob.take()
        assert isinstance(entered, RoomEntered)
        self.assertEqual(
            (entered.room, entered.created, entered.members, entered.count),
            ("#chess", False, ("alice", "bob"), 2),
        )
        [joined] = self.alice.take()
        assert isinstance(joined, RoomJoined)
        self.assertEqual((joined.room, joined.name), ("#chess", "bob"))
        self.assertEqual(self.carol.take(), [])
        self.bob.session.join("#chess")
        self.assertEqual(self.errors(self.bob.take()), ["already-in-room"])

    def test_members_only(self) -> None:
        """
        Only members receive a room's messages, only members may send them,
        and the sender gets no echo; messages to everyone still reach
        everyone.
        """
        self.in_room(self.alice, self.bob)
        self.alice.session.say_in("#chess", "e4?")
        [message] = self.bob.take()
        assert isinstance(message, RoomMessage)
        self.assertEqual(
            (message.room, message.sender, message.text), ("#chess", "alice", "e4?")
        )
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.carol.take(), [])
        self.carol.session.say_in("#chess", "let me in")
        self.assertEqual(self.errors(self.carol.take()), ["not-in-room"])
        self.assertEqual(self.bob.take(), [])
        self.bob.session.say_in("#chess", "e5")
        self.assertEqual(
            [e.text for e in self.of_type(self.alice.take(), RoomMessage)], ["e5"]
        )
        self.alice.session.say("hello all")
        self.assertEqual(len(self.of_type(self.carol.take(), Message)), 1)
        self.assertEqual(len(self.of_type(self.bob.take(), Message)), 1)

    def test_bad_rooms(self) -> None:
        """
        Unknown rooms and malformed names get their own errors.
        """
        self.alice.session.say_in("#nowhere", "hi")
        self.alice.session.join("#bad,name")
        self.alice.session.join("chess")
        self.alice.session.leave("#nowhere")
        self.alice.session.members("#nowhere")
        self.assertEqual(
            self.errors(self.alice.take()),
            [
                "no-such-room",
                "invalid-room",
                "invalid-room",
                "no-such-room",
                "no-such-room",
            ],
        )

    def test_leave(self) -> None:
        """
        Leaving tells the members and the leaver, and ends membership; the
        last guest to leave ends the room.
        """
        self.in_room(self.alice, self.bob)
        self.bob.session.leave("#chess", "bedtime")
        for person in (self.alice, self.bob):
            [left] = person.take()
            assert isinstance(left, RoomLeft)
            self.assertEqual(
                (left.name, left.reason, left.by), ("bob", "bedtime", None)
            )
        self.bob.session.say_in("#chess", "still here?")
        self.assertEqual(self.errors(self.bob.take()), ["not-in-room"])
        self.assertEqual(self.alice.take(), [])
        self.alice.session.say_in("#chess", "anyone?")
        self.assertEqual(self.bob.take(), [])
        self.alice.session.leave("#chess")
        self.alice.take()
        self.assertIsNone(self.core.rooms.get("#chess"))
        self.carol.session.rooms()
        [listing] = self.carol.take()
        assert isinstance(listing, RoomList)
        self.assertEqual(listing.rooms, ())

    def test_disconnect(self) -> None:
        """
        A guest that disconnects leaves its rooms for good; the members are
        told why.
        """
        self.in_room(self.alice, self.bob)
        self.drop(self.bob)
        left = self.of_type(self.alice.take(), RoomLeft)
        self.assertEqual(
            [(e.name, e.reason) for e in left], [("bob", "connection closed")]
        )
        self.bob.take()
        self.alice.session.say_in("#chess", "gone?")
        self.assertEqual(self.bob.take(), [])
        bob = self.guest("bob")
        bob.session.say_in("#chess", "back")
        self.assertEqual(self.errors(bob.take()), ["not-in-room"])

    def test_rooms_and_who(self) -> None:
        """
        The room list gives member counts and topics; a room's member list
        marks the owner and operators; the list of users is unchanged.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.in_room(self.bob, room="#go")
        self.alice.session.topic("#chess", "Tuesday club")
        self.alice.session.set_operator("carol", "#chess", True)
        self.bob.take()
        self.bob.session.rooms()
        [listing] = self.bob.take()
        assert isinstance(listing, RoomList)
        self.assertEqual(
            [(r.room, r.count, r.topic, r.member) for r in listing.rooms],
            [("#chess", 3, "Tuesday club", True), ("#go", 1, "", True)],
        )
        self.bob.session.members("#chess")
        [members] = self.bob.take()
        assert isinstance(members, RoomMembers)
        self.assertEqual(
            (members.members, members.owner, members.operators),
            (("alice", "bob", "carol"), "alice", ("carol",)),
        )
        self.bob.session.users()
        [users] = self.bob.take()
        assert isinstance(users, UserList)
        self.assertEqual(users.users, ("alice", "bob", "carol"))


class ModerationTests(RoomsTestCase):
    """
    What owners and operators may do, and only they.
    """

    def test_invite_only(self) -> None:
        """
        An invite-only room refuses a join without an invitation; an
        invitation lets one join, once; uninvited users do not see it.
        """
        self.in_room(self.alice, self.bob)
        self.bob.session.set_invite_only("#chess", True)
        self.assertEqual(self.errors(self.bob.take()), ["not-owner"])
        self.alice.session.set_invite_only("#chess", True)
        for person in (self.alice, self.bob):
            [mode] = person.take()
            assert isinstance(mode, RoomMode)
            self.assertEqual((mode.invite_only, mode.by), (True, "alice"))
        self.carol.session.join("#chess")
        self.carol.session.members("#chess")
        self.assertEqual(self.errors(self.carol.take()), ["invite-only", "not-in-room"])
        self.carol.session.rooms()
        [listing] = self.of_type(self.carol.take(), RoomList)
        self.assertEqual(listing.rooms, ())

        self.alice.session.invite("Carol", "#chess")
        [invited] = self.alice.take()
        assert isinstance(invited, RoomInvited)
        self.assertEqual(invited.name, "carol")
        [invite] = self.carol.take()
        assert isinstance(invite, RoomInvite)
        self.assertEqual((invite.room, invite.by), ("#chess", "alice"))
        self.carol.session.join("#chess")
        self.assertIsInstance(self.carol.take()[0], RoomEntered)
        self.carol.session.leave("#chess")
        self.carol.session.join("#chess")
        self.assertEqual(self.errors(self.carol.take()), ["invite-only"])
        self.alice.session.set_invite_only("#chess", False)
        self.carol.session.join("#chess")
        self.assertIsInstance(self.carol.take()[-1], RoomEntered)

    def test_invited_sees_room(self) -> None:
        """
        The room list shows an invite-only room to a user invited to it, as
        not a member, so that it can find what to join; a user neither
        member nor invited still does not see it.
        """
        self.in_room(self.alice, self.bob)
        self.alice.session.set_invite_only("#chess", True)
        self.alice.session.invite("carol", "#chess")
        dave = self.guest("dave")
        self.carol.take()
        self.carol.session.rooms()
        [listing] = self.carol.take()
        assert isinstance(listing, RoomList)
        self.assertEqual(
            [(r.room, r.count, r.invite_only, r.member) for r in listing.rooms],
            [("#chess", 2, True, False)],
        )
        dave.session.rooms()
        [listing] = dave.take()
        assert isinstance(listing, RoomList)
        self.assertEqual(listing.rooms, ())

    def test_invite_refusals(self) -> None:
        """
        Only moderators invite, only people who exist, and not members.
        """
        self.in_room(self.alice, self.bob)
        self.bob.session.invite("carol", "#chess")
        self.alice.session.invite("nobody", "#chess")
        self.alice.session.invite("bob", "#chess")
        self.assertEqual(self.errors(self.bob.take()), ["not-operator"])
        self.assertEqual(self.errors(self.alice.take()), ["no-such-user", "usage"])
        self.assertEqual(self.carol.take(), [])

    def test_guest_invitation_ends_with_guest(self) -> None:
        """
        A guest's invitation is forgotten when it disconnects, so the next
        user to take that name is not invited.
        """
        self.in_room(self.alice)
        self.alice.session.set_invite_only("#chess", True)
        self.alice.session.invite("carol", "#chess")
        self.carol.session.quit()
        carol = self.guest("carol")
        carol.session.join("#chess")
        self.assertEqual(self.errors(carol.take()), ["invite-only"])

    def test_kick(self) -> None:
        """
        The owner kicks a member: every member and the kicked are told,
        and it is no longer a member.  Nobody kicks the owner.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.alice.session.kick("bob", "#chess", "spam")
        for person in (self.alice, self.bob, self.carol):
            [left] = person.take()
            assert isinstance(left, RoomLeft)
            self.assertEqual(
                (left.name, left.by, left.reason), ("bob", "alice", "spam")
            )
        self.bob.session.say_in("#chess", "hey")
        self.assertEqual(self.errors(self.bob.take()), ["not-in-room"])
        self.assertEqual(self.alice.take(), [])
        self.alice.session.say_in("#chess", "without bob")
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(
            [e.text for e in self.of_type(self.carol.take(), RoomMessage)],
            ["without bob"],
        )
        self.carol.session.kick("alice", "#chess")
        self.carol.session.kick("bob", "#chess")
        self.assertEqual(
            self.errors(self.carol.take()), ["not-operator", "not-operator"]
        )
        self.alice.session.kick("alice", "#chess")
        self.alice.session.kick("bob", "#chess")
        self.assertEqual(self.errors(self.alice.take()), ["not-owner", "usage"])

    def test_operators(self) -> None:
        """
        Operators named by the owner set the topic, invite and kick members,
        but neither kick operators nor name operators.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.alice.session.set_operator("bob", "#chess", True)
        for person in (self.alice, self.bob, self.carol):
            [op] = person.take()
            assert isinstance(op, RoomOp)
            self.assertEqual((op.name, op.by, op.op), ("bob", "alice", True))
        self.bob.session.topic("#chess", "openings")
        [topic] = self.carol.take()
        assert isinstance(topic, RoomTopic)
        self.assertEqual((topic.topic, topic.by), ("openings", "bob"))
        self.bob.session.set_operator("carol", "#chess", True)
        self.assertEqual(self.errors(self.bob.take()), ["not-owner"])
        self.alice.session.set_operator("carol", "#chess", True)
        self.bob.session.kick("carol", "#chess")
        self.assertEqual(self.errors(self.bob.take()), ["not-owner"])
        self.alice.session.set_operator("carol", "#chess", False)
        self.bob.take()
        self.bob.session.kick("carol", "#chess")
        self.assertEqual(self.of_type(self.carol.take(), RoomLeft)[0].by, "bob")
        self.alice.session.set_operator("carol", "#chess", True)
        self.assertEqual(self.errors(self.alice.take()), ["usage"])

    def assert_not_operator(self, person: Person) -> None:
        """
        C{person}, a plain member of #chess, is refused operator actions.
        """
        person.session.topic("#chess", "mine now")
        person.session.kick("carol", "#chess")
        self.assertEqual(self.errors(person.take()), ["not-operator", "not-operator"])
        self.assertEqual(self.room().operators, set())
        self.assertEqual(self.carol.take(), [])

    def test_guest_operator_rights_end_with_leave(self) -> None:
        """
        A guest's operator rights end when it leaves: rejoining makes it a
        plain member (only registered names keep rights).
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.alice.session.set_operator("bob", "#chess", True)
        self.bob.session.topic("#chess", "openings")
        self.assertEqual(
            [e.by for e in self.of_type(self.carol.take(), RoomTopic)], ["bob"]
        )
        self.bob.session.leave("#chess")
        self.bob.session.join("#chess")
        self.assertIsInstance(self.bob.take()[-1], RoomEntered)
        self.carol.take()
        self.assert_not_operator(self.bob)

    def test_guest_operator_rights_end_with_disconnect(self) -> None:
        """
        A guest's operator rights end when it disconnects: whoever takes
        the name next and joins is a plain member.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.alice.session.set_operator("bob", "#chess", True)
        self.bob.session.quit()
        bob = self.guest("bob")
        bob.session.join("#chess")
        self.assertIsInstance(bob.take()[-1], RoomEntered)
        self.carol.take()
        self.assert_not_operator(bob)

    def test_topic(self) -> None:
        """
        Members see the topic set; anyone may ask for it; only moderators
        set it, within the length limit.
        """
        self.in_room(self.alice, self.bob)
        self.bob.session.topic("#chess", "mine now")
        self.alice.session.topic("#chess", "x" * 301)
        self.assertEqual(self.errors(self.bob.take()), ["not-operator"])
        self.assertEqual(self.errors(self.alice.take()), ["usage"])
        self.alice.session.topic("#chess", "Tuesday club")
        self.assertEqual(len(self.of_type(self.bob.take(), RoomTopic)), 1)
        self.assertEqual(self.carol.take(), [])
        self.carol.session.topic("#chess")
        [shown] = self.carol.take()
        assert isinstance(shown, RoomTopic)
        self.assertEqual((shown.topic, shown.by), ("Tuesday club", None))

    def test_guest_owner(self) -> None:
        """
        A guest owns its room only while in it; an ownerless room that
        empties out is gone, and whoever creates it again owns it.
        """
        self.in_room(self.alice, self.bob)
        self.alice.session.quit()
        self.assertIsNone(self.room().owner)
        self.bob.session.topic("#chess", "mine")
        self.assertEqual(self.errors(self.bob.take()), ["not-operator"])
        self.bob.session.leave("#chess")
        self.carol.session.join("#chess")
        entered = self.of_type(self.carol.take(), RoomEntered)[0]
        self.assertEqual((entered.created, entered.owner), (True, "carol"))


class BigRoomTests(RoomsTestCase):
    """
    Rooms with more members online than L{Limits.room_announce}.
    """

    limits = replace(CoreTestCase.limits, room_announce=2)

    def test_threshold(self) -> None:
        """
        Above the room's announce limit, joins and leaves are not announced
        (a join costs one reply); kicks still are.
        """
        self.in_room(self.alice)
        self.bob.session.join("#chess")
        [joined] = self.alice.take()
        assert isinstance(joined, RoomJoined)
        self.assertEqual(joined.name, "bob")
        self.bob.take()
        self.carol.session.join("#chess")
        self.assertEqual(self.alice.take(), [])
        [entered] = self.carol.take()
        assert isinstance(entered, RoomEntered)
        self.assertEqual((entered.room, entered.count), ("#chess", 3))
        self.carol.session.leave("#chess")
        self.assertEqual(self.alice.take(), [])
        [left] = self.carol.take()
        assert isinstance(left, RoomLeft)
        self.assertEqual((left.room, left.name, left.by), ("#chess", "carol", None))
        self.carol.session.join("#chess")
        self.alice.session.kick("carol", "#chess")
        self.assertEqual(len(self.of_type(self.bob.take(), RoomLeft)), 1)

    def test_disconnect_not_announced(self) -> None:
        """
        Above the limit a disconnection, like a leave, is not announced in
        the room (it would cost a line per member); the main channel still
        says who left.  Back at the limit it is announced again.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.drop(self.carol)
        for person in (self.alice, self.bob):
            events = person.take()
            self.assertEqual(self.of_type(events, RoomLeft), [])
            self.assertEqual(
                [(e.name, e.reason) for e in self.of_type(events, Left)],
                [("carol", "connection closed")],
            )
        self.assertEqual(list(self.room().online.values()), ["alice", "bob"])
        self.drop(self.bob)
        [left] = self.of_type(self.alice.take(), RoomLeft)
        self.assertEqual(
            (left.room, left.name, left.reason, left.by),
            ("#chess", "bob", "connection closed", None),
        )

    def test_login_put_back_not_announced(self) -> None:
        """
        Above the limit, a registered member put back in the room at login
        is not announced in it (the main channel still announces the
        login); the member itself gets its join line.
        """
        dave = self.member("dave")
        self.in_room(self.alice, self.bob, dave)
        dave.session.quit()
        self.in_room(self.carol)
        dave, events = self.log_in("dave")
        [entered] = self.of_type(events, RoomEntered)
        self.assertEqual(
            (entered.room, entered.rejoined, entered.count),
            ("#chess", True, 4),
        )
        for person in (self.alice, self.bob, self.carol):
            events = person.take()
            self.assertEqual(self.of_type(events, RoomJoined), [])
            self.assertEqual([e.name for e in self.of_type(events, Joined)], ["dave"])

    def test_topic_and_mode_always_announced(self) -> None:
        """
        Above the limit, topic and mode changes still reach every member:
        they are rare, and members need them.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.alice.session.topic("#chess", "blitz only")
        for person in (self.alice, self.bob, self.carol):
            [topic] = person.take()
            assert isinstance(topic, RoomTopic)
            self.assertEqual(
                (topic.room, topic.topic, topic.by), ("#chess", "blitz only", "alice")
            )
        for invite_only in (True, False):
            self.alice.session.set_invite_only("#chess", invite_only)
            for person in (self.alice, self.bob, self.carol):
                [mode] = person.take()
                assert isinstance(mode, RoomMode)
                self.assertEqual(
                    (mode.room, mode.invite_only, mode.by),
                    ("#chess", invite_only, "alice"),
                )

    def test_entered_lists_at_most_50(self) -> None:
        """
        The join reply names at most L{Limits.room_list} (50) members, and
        always gives the count.
        """
        self.in_room(self.alice)
        for i in range(50):
            self.in_room(self.guest(f"u{i}"))
        self.bob.session.join("#chess")
        [entered] = self.bob.take()
        assert isinstance(entered, RoomEntered)
        self.assertEqual((entered.members, entered.count), ((), 52))


class RoomHistoryTests(RoomsTestCase):
    """
    What was said in a room, kept per room.
    """

    def test_history(self) -> None:
        """
        Room messages are kept per room: a new member is shown the last
        few, members ask for more, non-members cannot, and the main
        history does not include them.
        """
        self.in_room(self.alice, self.bob)
        for text in ("one", "two", "three"):
            self.alice.session.say_in("#chess", text)
        self.carol.session.join("#chess")
        events = self.carol.take()
        self.assertIsInstance(events[0], RoomEntered)
        self.assertEqual(
            [(e.text, e.room) for e in self.of_type(events, Past)],
            [("two", "#chess"), ("three", "#chess")],
        )
        [end] = self.of_type(events, PastEnd)
        self.assertEqual((end.count, end.room), (2, "#chess"))
        self.bob.session.history(5, "#chess")
        self.assertEqual(
            [e.text for e in self.of_type(self.bob.take(), Past)],
            ["one", "two", "three"],
        )
        dave = self.guest("dave")
        dave.session.history(room="#chess")
        dave.session.history()
        events = dave.take()
        self.assertEqual(self.errors(events), ["not-in-room"])
        self.assertEqual(self.of_type(events, Past), [])
        self.assertEqual([e.count for e in self.of_type(events, PastEnd)], [0])


class RegisteredMemberTests(RoomsTestCase):
    """
    Registered members stay members while offline; their rooms, rights
    and invitations are in the store.
    """

    limits = replace(CoreTestCase.limits, missed_max=2)

    def test_back_in_rooms_with_missed(self) -> None:
        """
        A registered member stays in its rooms when it logs out; at its
        next login it is put back before live traffic, shown what it
        missed (the newest, up to the limit), and the members are told.
        """
        dave = self.member("dave")
        self.in_room(self.alice, dave)
        dave.session.quit()
        self.assertEqual(len(self.of_type(self.alice.take(), RoomLeft)), 1)
        for text in ("one", "two", "three"):
            self.clock.advance(1)
            self.alice.session.say_in("#chess", text)
        self.clock.advance(1)
        dave, events = self.log_in("dave")
        self.assertIsInstance(events[0], Welcome)
        self.assertEqual(
            [(e.room, e.rejoined) for e in self.of_type(events, RoomEntered)],
            [("#chess", True)],
        )
        missed = [e for e in self.of_type(events, Past) if e.missed]
        self.assertEqual([e.text for e in missed], ["two", "three"])
        [end] = [e for e in self.of_type(events, PastEnd) if e.missed]
        self.assertEqual((end.room, end.count), ("#chess", 2))
        self.assertEqual(len(self.of_type(self.alice.take(), RoomJoined)), 1)
        self.alice.session.say_in("#chess", "four")
        self.assertEqual(
            [e.text for e in self.of_type(dave.take(), RoomMessage)], ["four"]
        )

    def test_registered_owner_keeps_room(self) -> None:
        """
        A registered owner keeps an empty room and its rights, and may join
        it when invite-only; its membership ends only when it leaves.
        """
        dave = self.member("dave")
        self.in_room(dave)
        dave.session.set_invite_only("#chess", True)
        dave.session.leave("#chess")
        self.assertIsNotNone(self.core.rooms.get("#chess"))
        dave.session.quit()
        dave, events = self.log_in("dave")
        self.assertEqual(self.of_type(events, RoomEntered), [])
        dave.session.join("#chess")
        self.assertEqual(self.of_type(dave.take(), RoomEntered)[0].owner, "dave")

    def test_unregister(self) -> None:
        """
        Giving a name up makes its memberships a guest's: they end with the
        connection.
        """
        dave = self.member("dave")
        self.in_room(self.alice, dave)
        dave.session.unregister("sesame1")
        self.drop(dave, "quit")
        self.assertNotIn("dave", self.room().registered)
        self.assertEqual(list(self.room().online.values()), ["alice"])

    def test_unregister_drops_invitations(self) -> None:
        """
        An invitation of a registered name that never joined goes with the
        name: a guest who takes it later is not invited.
        """
        dave = self.member("dave")
        self.in_room(self.alice)
        self.alice.session.set_invite_only("#chess", True)
        self.alice.session.invite("dave", "#chess")
        self.assertEqual(self.room().invited, {"dave"})
        dave.session.unregister("sesame1")
        self.drop(dave, "quit")
        self.assertEqual(self.room().invited, set())
        dave = self.guest("dave")
        dave.session.join("#chess")
        self.assertEqual(self.errors(dave.take()), ["invite-only"])

    def test_restart(self) -> None:
        """
        Rooms, topics, owners, operators, invitations and registered
        memberships are in the store: a new core over it has them, and
        none of the guests' rooms.
        """
        dave = self.member("dave", "sesame1")
        erin = self.member("erin", "sesame2")
        self.member("frank", "sesame3")
        self.in_room(dave, erin, self.alice)
        dave.session.topic("#chess", "Tuesday club")
        dave.session.set_operator("erin", "#chess", True)
        dave.session.set_invite_only("#chess", True)
        dave.session.invite("frank", "#chess")
        self.assertEqual(self.errors(dave.take()), [])
        self.in_room(self.bob, room="#guests")
        again = ChatCore(
            self.clock, self.store, MemorySpool(), fake_hasher(), limits=self.limits
        )
        self.successResultOf(again.start())
        room = again.rooms.get("#chess")
        assert room is not None
        self.assertEqual(
            (room.name, room.owner, room.topic, room.invite_only),
            ("#chess", "dave", "Tuesday club", True),
        )
        self.assertEqual(room.operators, {"erin"})
        self.assertEqual(room.invited, {"frank"})
        self.assertEqual(set(room.registered), {"dave", "erin"})
        self.assertEqual(room.online, {})
        self.assertIsNone(again.rooms.get("#guests"))


class NoticeTests(RoomsTestCase):
    """
    Rooms and the main channel's notices.
    """

    def test_main_join_notice_unchanged(self) -> None:
        """
        Rooms change nothing of the main channel: a newcomer is still
        announced to everyone.
        """
        self.in_room(self.alice)
        self.guest("dave")
        self.assertEqual(
            [e.name for e in self.of_type(self.bob.take(), Joined)], ["dave"]
        )


class StoppingTests(RoomsTestCase):
    """
    What rooms write when the server stops.
    """

    def test_stopping(self) -> None:
        """
        When the server stops, members online are recorded as having seen
        everything so far, and nothing more is written after that (the
        store is closing).
        """
        dave = self.member("dave")
        self.in_room(dave, self.alice)
        self.in_room(self.bob, room="#guests")
        self.clock.advance(100)
        self.successResultOf(self.core.stopping())
        rooms = {r.key: r for r in self.successResultOf(self.store.load_rooms())}
        self.assertEqual(
            rooms["#chess"].members,
            (Membership("#chess", "dave", False, START + 100),),
        )
        self.drop(self.bob)
        self.assertIsNone(self.core.rooms.get("#guests"))
        rooms = {r.key: r for r in self.successResultOf(self.store.load_rooms())}
        self.assertIn("#guests", rooms)


class OutsiderTests(RoomsTestCase):
    """
    An invite-only room answers a user who is neither member nor invited
    the same way, whatever it asks: not-in-room, as IRC daemons answer a
    secret channel's outsiders; only C{/join} says it is invite-only, and
    C{/rooms} does not list it.
    """

    def test_same_answer_everywhere(self) -> None:
        self.in_room(self.alice, self.bob)
        self.alice.session.set_invite_only("#chess", True)
        self.alice.take()
        self.bob.take()
        carol = self.carol.session
        carol.members("#chess")
        carol.topic("#chess")
        carol.topic("#chess", "mine now")
        carol.say_in("#chess", "hi")
        carol.leave("#chess", "bye")
        carol.history(5, "#chess")
        carol.set_invite_only("#chess", False)
        carol.invite("bob", "#chess")
        carol.kick("bob", "#chess", "out")
        carol.set_operator("bob", "#chess", True)
        answers = [(e.code, e.text) for e in self.of_type(self.carol.take(), Error)]
        self.assertEqual(
            answers,
            [("not-in-room", "you are not in #chess; /join #chess first.")] * 10,
        )
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.bob.take(), [])
        carol.rooms()
        [listing] = self.of_type(self.carol.take(), RoomList)
        self.assertEqual(listing.rooms, ())


class HeldRoomStore(MemoryStore, Later):
    """
    A L{MemoryStore} whose C{save_room} answers only when the test says
    (L{Later}): the store's write confirmed, or failed, by hand.
    """

    holding = True

    def __init__(self) -> None:
        MemoryStore.__init__(self)
        Later.__init__(self)

    def save_room(self, room: RoomRecord) -> Deferred[None]:
        return self.later(super().save_room(room))


class AcknowledgedJoinTests(RoomsTestCase):
    """
    Creating a room is acknowledged only once the store has it.
    """

    def setUp(self) -> None:
        self.store = self.held = HeldRoomStore()
        super().setUp()

    def test_told_once_stored(self) -> None:
        """
        Nobody is told of a new room, nor let in, before its creation is
        stored; the asker's later requests and others' joins wait for it.
        """
        self.alice.session.join("#fresh")
        self.alice.session.say_in("#fresh", "first")
        self.bob.session.join("#FRESH")
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.bob.take(), [])
        self.held.answer()
        [entered] = self.of_type(self.alice.take(), RoomEntered)
        self.assertEqual((entered.created, entered.owner), (True, "alice"))
        [entered] = self.of_type(self.bob.take(), RoomEntered)
        self.assertEqual((entered.created, entered.owner), (False, "alice"))
        room = self.room("#fresh")
        self.assertEqual(list(room.online), [self.alice.session, self.bob.session])

    def test_store_failure(self) -> None:
        """
        A failed write is a clear error, and there is no room.
        """
        self.alice.session.join("#fresh")
        self.held.fail_next(RuntimeError("disk full"))
        errors = self.of_type(self.alice.take(), Error)
        self.assertEqual(
            [(e.code, e.text) for e in errors],
            [
                (
                    "store-failed",
                    "#fresh could not be saved, so you are not in it; "
                    "please try again.",
                )
            ],
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIsNone(self.core.rooms.get("#fresh"))
        self.bob.session.rooms()
        [listing] = self.of_type(self.bob.take(), RoomList)
        self.assertEqual(listing.rooms, ())

    def test_waiting_join_after_failure(self) -> None:
        """
        A join that waited for a creation that failed creates the room
        anew, for its own asker to own once stored.
        """
        self.alice.session.join("#fresh")
        self.bob.session.join("#fresh")
        self.held.fail_next(RuntimeError("disk full"))
        self.flushLoggedErrors(RuntimeError)
        self.assertEqual(self.errors(self.alice.take()), ["store-failed"])
        self.assertEqual(self.bob.take(), [])
        self.held.answer()
        [entered] = self.of_type(self.bob.take(), RoomEntered)
        self.assertEqual((entered.created, entered.owner), (True, "bob"))
        self.assertEqual(self.alice.take(), [])

    def test_asker_gone(self) -> None:
        """
        A guest that disconnects before its room is stored leaves nothing.
        """
        self.alice.session.join("#fresh")
        self.drop(self.alice)
        self.held.answer()
        self.assertIsNone(self.core.rooms.get("#fresh"))

"""
Tests for rooms in the chat core (L{chat.rooms}, L{chat.room_commands}),
through the dispatcher, over L{MemoryStore} with a clock.
"""

from __future__ import annotations

from typing import TypeVar

from chat.dispatcher import Dispatcher
from chat.events import (
    Event,
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
from chat.rooms import Room
from tests.fakes import FakeClient
from tests.test_accounts import START, AccountsTestCase

_E = TypeVar("_E", bound=Event)


def of(events: list[Event], kind: type[_E]) -> list[_E]:
    return [e for e in events if isinstance(e, kind)]


class RoomsTestCase(AccountsTestCase):
    """
    Alice, Bob and Carol online as guests.
    """

    def setUp(self) -> None:
        super().setUp()
        self.alice = self.guest("alice")
        self.bob = self.guest("bob")
        self.carol = self.guest("carol")
        for client in (self.alice, self.bob, self.carol):
            client.take()

    def in_room(self, *clients: FakeClient, room: str = "#chess") -> None:
        """
        Everyone in C{clients} joins C{room}, the first creating it; their
        events so far are dropped.
        """
        for client in clients:
            self.send(client, f"/join {room}")
        for client in (self.alice, self.bob, self.carol, *clients):
            client.take()

    def room(self, name: str = "#chess") -> Room:
        room = self.dispatcher.rooms.rooms.get(name)
        assert room is not None
        return room


class MembershipTests(RoomsTestCase):
    def test_create(self) -> None:
        """
        C{/join} of a new room creates it, owned by the asker, and says so.
        """
        self.send(self.alice, "/join #Chess")
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
        and tells the members.
        """
        self.in_room(self.alice)
        self.send(self.bob, "/join #CHESS")
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
        self.send(self.bob, "/join #chess")
        self.assertEqual(self.errors(self.bob.take()), ["already-in-room"])

    def test_members_only(self) -> None:
        """
        Only members receive a room's messages, only members may send them,
        and the sender gets no echo; plain lines still reach everyone.
        """
        self.in_room(self.alice, self.bob)
        self.send(self.alice, "#chess*e4?")
        [message] = self.bob.take()
        assert isinstance(message, RoomMessage)
        self.assertEqual(
            (message.room, message.sender, message.text), ("#chess", "alice", "e4?")
        )
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.carol.take(), [])
        self.send(self.carol, "#chess*let me in")
        self.assertEqual(self.errors(self.carol.take()), ["not-in-room"])
        self.assertEqual(self.bob.take(), [])
        self.send(self.bob, "/say #chess e5")
        self.assertEqual([e.text for e in of(self.alice.take(), RoomMessage)], ["e5"])
        self.send(self.alice, "hello all")
        self.assertEqual(len(of(self.carol.take(), Message)), 1)
        self.assertEqual(len(of(self.bob.take(), Message)), 1)

    def test_bad_rooms(self) -> None:
        """
        Unknown rooms and malformed names get their own errors.
        """
        self.send(self.alice, "#nowhere*hi")
        self.send(self.alice, "/say #nowhere hi")
        self.send(self.alice, "/join #bad,name")
        self.send(self.alice, "/join chess")
        self.send(self.alice, "/join")
        self.send(self.alice, "/leave #nowhere")
        self.assertEqual(
            self.errors(self.alice.take()),
            [
                "no-such-room",
                "no-such-room",
                "invalid-room",
                "invalid-room",
                "usage",
                "no-such-room",
            ],
        )

    def test_leave(self) -> None:
        """
        C{/leave} tells the members and the leaver, and ends membership; the
        last guest to leave ends the room.
        """
        self.in_room(self.alice, self.bob)
        self.send(self.bob, "/leave #chess bedtime")
        for client in (self.alice, self.bob):
            [left] = client.take()
            assert isinstance(left, RoomLeft)
            self.assertEqual(
                (left.name, left.reason, left.by), ("bob", "bedtime", None)
            )
        self.send(self.bob, "#chess*still here?")
        self.assertEqual(self.errors(self.bob.take()), ["not-in-room"])
        self.assertEqual(self.alice.take(), [])
        self.send(self.alice, "#chess*anyone?")
        self.assertEqual(self.bob.take(), [])
        self.send(self.alice, "/part #chess")
        self.alice.take()
        self.assertIsNone(self.dispatcher.rooms.rooms.get("#chess"))
        self.send(self.carol, "/rooms")
        [listing] = self.carol.take()
        assert isinstance(listing, RoomList)
        self.assertEqual(listing.rooms, ())

    def test_disconnect(self) -> None:
        """
        A guest that disconnects leaves its rooms for good; the members are
        told why.
        """
        self.in_room(self.alice, self.bob)
        self.dispatcher.leave(self.bob, "connection closed")
        left = of(self.alice.take(), RoomLeft)
        self.assertEqual(
            [(e.name, e.reason) for e in left], [("bob", "connection closed")]
        )
        self.bob.take()
        self.send(self.alice, "#chess*gone?")
        self.assertEqual(self.bob.take(), [])
        bob = self.guest("bob")
        self.send(bob, "#chess*back")
        self.assertEqual(self.errors(bob.take()), ["not-in-room"])

    def test_rooms_and_who(self) -> None:
        """
        C{/rooms} lists rooms with member counts and topics; C{/who #room}
        lists members, marking the owner and operators.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.in_room(self.bob, room="#go")
        self.send(self.alice, "/topic #chess Tuesday club")
        self.send(self.alice, "/op carol #chess")
        self.bob.take()
        self.send(self.bob, "/rooms")
        [listing] = self.bob.take()
        assert isinstance(listing, RoomList)
        self.assertEqual(
            [(r.room, r.count, r.topic, r.member) for r in listing.rooms],
            [("#chess", 3, "Tuesday club", True), ("#go", 1, "", True)],
        )
        self.send(self.bob, "/who #chess")
        [members] = self.bob.take()
        assert isinstance(members, RoomMembers)
        self.assertEqual(
            (members.members, members.owner, members.operators),
            (("alice", "bob", "carol"), "alice", ("carol",)),
        )
        self.send(self.bob, "/who")
        events = self.bob.take()
        self.assertEqual(len(events), 1)
        [users] = events
        assert isinstance(users, UserList)
        self.assertEqual(users.users, ("alice", "bob", "carol"))


class ModerationTests(RoomsTestCase):
    def test_invite_only(self) -> None:
        """
        An invite-only room refuses a join without an invitation; an
        invitation lets one join, once; uninvited users do not see it.
        """
        self.in_room(self.alice, self.bob)
        self.send(self.bob, "/mode #chess +i")
        self.assertEqual(self.errors(self.bob.take()), ["not-owner"])
        self.send(self.alice, "/mode #chess +i")
        for client in (self.alice, self.bob):
            [mode] = client.take()
            assert isinstance(mode, RoomMode)
            self.assertEqual((mode.invite_only, mode.by), (True, "alice"))
        self.send(self.carol, "/join #chess")
        self.send(self.carol, "/who #chess")
        self.assertEqual(
            self.errors(self.carol.take()), ["invite-only", "no-such-room"]
        )
        self.send(self.carol, "/rooms")
        [listing] = of(self.carol.take(), RoomList)
        self.assertEqual(listing.rooms, ())

        self.send(self.alice, "/invite Carol #chess")
        [invited] = self.alice.take()
        assert isinstance(invited, RoomInvited)
        self.assertEqual(invited.name, "carol")
        [invite] = self.carol.take()
        assert isinstance(invite, RoomInvite)
        self.assertEqual((invite.room, invite.by), ("#chess", "alice"))
        self.send(self.carol, "/join #chess")
        self.assertIsInstance(self.carol.take()[0], RoomEntered)
        self.send(self.carol, "/leave #chess")
        self.send(self.carol, "/join #chess")
        self.assertEqual(self.errors(self.carol.take()), ["invite-only"])
        self.send(self.alice, "/mode #chess -i")
        self.send(self.carol, "/join #chess")
        self.assertIsInstance(self.carol.take()[-1], RoomEntered)

    def test_invited_sees_room(self) -> None:
        """
        C{/rooms} shows an invite-only room to a user invited to it, as not
        a member, so that it can find what to join; a user neither member
        nor invited still does not see it.
        """
        self.in_room(self.alice, self.bob)
        self.send(self.alice, "/mode #chess +i")
        self.send(self.alice, "/invite carol #chess")
        dave = self.guest("dave")
        self.carol.take()
        self.send(self.carol, "/rooms")
        [listing] = self.carol.take()
        assert isinstance(listing, RoomList)
        self.assertEqual(
            [(r.room, r.count, r.invite_only, r.member) for r in listing.rooms],
            [("#chess", 2, True, False)],
        )
        self.send(dave, "/rooms")
        [listing] = dave.take()
        assert isinstance(listing, RoomList)
        self.assertEqual(listing.rooms, ())

    def test_invite_refusals(self) -> None:
        """
        Only moderators invite, only people who exist, and not members.
        """
        self.in_room(self.alice, self.bob)
        self.send(self.bob, "/invite carol #chess")
        self.send(self.alice, "/invite nobody #chess")
        self.send(self.alice, "/invite bob #chess")
        self.send(self.alice, "/invite carol")
        self.assertEqual(self.errors(self.bob.take()), ["not-operator"])
        self.assertEqual(
            self.errors(self.alice.take()), ["no-such-user", "usage", "usage"]
        )

    def test_guest_invitation_ends_with_guest(self) -> None:
        """
        A guest's invitation is forgotten when it disconnects, so the next
        user to take that name is not invited.
        """
        self.in_room(self.alice)
        self.send(self.alice, "/mode #chess +i")
        self.send(self.alice, "/invite carol #chess")
        self.dispatcher.leave(self.carol, "quit")
        carol = self.guest("carol")
        self.send(carol, "/join #chess")
        self.assertEqual(self.errors(carol.take()), ["invite-only"])

    def test_kick(self) -> None:
        """
        The owner kicks a member: every member and the kicked are told,
        and it is no longer a member.  Nobody kicks the owner.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.send(self.alice, "/kick bob #chess spam")
        for client in (self.alice, self.bob, self.carol):
            [left] = client.take()
            assert isinstance(left, RoomLeft)
            self.assertEqual(
                (left.name, left.by, left.reason), ("bob", "alice", "spam")
            )
        self.send(self.bob, "#chess*hey")
        self.assertEqual(self.errors(self.bob.take()), ["not-in-room"])
        self.assertEqual(self.alice.take(), [])
        self.send(self.alice, "#chess*without bob")
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(
            [e.text for e in of(self.carol.take(), RoomMessage)], ["without bob"]
        )
        self.send(self.carol, "/kick alice #chess")
        self.send(self.carol, "/kick bob #chess")
        self.assertEqual(
            self.errors(self.carol.take()), ["not-operator", "not-operator"]
        )
        self.send(self.alice, "/kick alice #chess")
        self.send(self.alice, "/kick bob #chess")
        self.assertEqual(self.errors(self.alice.take()), ["not-owner", "usage"])

    def test_operators(self) -> None:
        """
        Operators named by the owner set the topic, invite and kick members,
        but neither kick operators nor name operators.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.send(self.alice, "/op bob #chess")
        for client in (self.alice, self.bob, self.carol):
            [op] = client.take()
            assert isinstance(op, RoomOp)
            self.assertEqual((op.name, op.by, op.op), ("bob", "alice", True))
        self.send(self.bob, "/topic #chess openings")
        [topic] = self.carol.take()
        assert isinstance(topic, RoomTopic)
        self.assertEqual((topic.topic, topic.by), ("openings", "bob"))
        self.send(self.bob, "/op carol #chess")
        self.assertEqual(self.errors(self.bob.take()), ["not-owner"])
        self.send(self.alice, "/op carol #chess")
        self.send(self.bob, "/kick carol #chess")
        self.assertEqual(self.errors(self.bob.take()), ["not-owner"])
        self.send(self.alice, "/deop carol #chess")
        self.bob.take()
        self.send(self.bob, "/kick carol #chess")
        self.assertEqual(of(self.carol.take(), RoomLeft)[0].by, "bob")
        self.send(self.alice, "/op carol #chess")
        self.assertEqual(self.errors(self.alice.take()), ["usage"])

    def assert_not_operator(self, client: FakeClient) -> None:
        """
        C{client}, a plain member of #chess, is refused operator actions.
        """
        self.send(client, "/topic #chess mine now")
        self.send(client, "/kick carol #chess")
        self.assertEqual(self.errors(client.take()), ["not-operator", "not-operator"])
        self.assertEqual(self.room().operators, set())
        self.assertEqual(self.carol.take(), [])

    def test_guest_operator_rights_end_with_leave(self) -> None:
        """
        A guest's operator rights end when it leaves: rejoining makes it a
        plain member (only registered names keep rights).
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.send(self.alice, "/op bob #chess")
        self.send(self.bob, "/topic #chess openings")
        self.assertEqual([e.by for e in of(self.carol.take(), RoomTopic)], ["bob"])
        self.send(self.bob, "/leave #chess")
        self.send(self.bob, "/join #chess")
        self.assertIsInstance(self.bob.take()[-1], RoomEntered)
        self.carol.take()
        self.assert_not_operator(self.bob)

    def test_guest_operator_rights_end_with_disconnect(self) -> None:
        """
        A guest's operator rights end when it disconnects: whoever takes
        the name next and joins is a plain member.
        """
        self.in_room(self.alice, self.bob, self.carol)
        self.send(self.alice, "/op bob #chess")
        self.dispatcher.leave(self.bob, "quit")
        bob = self.guest("bob")
        self.send(bob, "/join #chess")
        self.assertIsInstance(bob.take()[-1], RoomEntered)
        self.carol.take()
        self.assert_not_operator(bob)

    def test_topic(self) -> None:
        """
        Members see the topic set; anyone may ask for it; only moderators
        set it, within the length limit.
        """
        self.in_room(self.alice, self.bob)
        self.send(self.bob, "/topic #chess mine now")
        self.send(self.alice, "/topic #chess " + "x" * 301)
        self.assertEqual(self.errors(self.bob.take()), ["not-operator"])
        self.assertEqual(self.errors(self.alice.take()), ["usage"])
        self.send(self.alice, "/topic #chess Tuesday club")
        self.assertEqual(len(of(self.bob.take(), RoomTopic)), 1)
        self.assertEqual(self.carol.take(), [])
        self.send(self.carol, "/topic #chess")
        [shown] = self.carol.take()
        assert isinstance(shown, RoomTopic)
        self.assertEqual((shown.topic, shown.by), ("Tuesday club", None))

    def test_guest_owner(self) -> None:
        """
        A guest owns its room only while in it; an ownerless room that
        empties out is gone, and whoever creates it again owns it.
        """
        self.in_room(self.alice, self.bob)
        self.dispatcher.leave(self.alice, "quit")
        self.assertIsNone(self.room().owner)
        self.send(self.bob, "/topic #chess mine")
        self.assertEqual(self.errors(self.bob.take()), ["not-operator"])
        self.send(self.bob, "/leave #chess")
        self.send(self.carol, "/join #chess")
        entered = of(self.carol.take(), RoomEntered)[0]
        self.assertEqual((entered.created, entered.owner), (True, "carol"))


class BigRoomTests(RoomsTestCase):
    def test_threshold(self) -> None:
        """
        Above the room's announce limit, joins and leaves are not announced
        (a join costs one reply); kicks still are.
        """
        self.dispatcher.rooms.announce_limit = 2
        self.in_room(self.alice)
        self.send(self.bob, "/join #chess")
        [joined] = self.alice.take()
        assert isinstance(joined, RoomJoined)
        self.assertEqual(joined.name, "bob")
        self.bob.take()
        self.send(self.carol, "/join #chess")
        self.assertEqual(self.alice.take(), [])
        events = self.carol.take()
        self.assertEqual(len(events), 1)
        [entered] = events
        assert isinstance(entered, RoomEntered)
        self.assertEqual((entered.room, entered.count), ("#chess", 3))
        self.send(self.carol, "/leave #chess")
        self.assertEqual(self.alice.take(), [])
        events = self.carol.take()
        self.assertEqual(len(events), 1)
        [left] = events
        assert isinstance(left, RoomLeft)
        self.assertEqual((left.room, left.name, left.by), ("#chess", "carol", None))
        self.send(self.carol, "/join #chess")
        self.send(self.alice, "/kick carol #chess")
        self.assertEqual(len(of(self.bob.take(), RoomLeft)), 1)

    def test_disconnect_not_announced(self) -> None:
        """
        Above the limit a disconnection, like a leave, is not announced in
        the room (it would cost a line per member); the main channel still
        says who left.  Back at the limit it is announced again.
        """
        self.dispatcher.rooms.announce_limit = 2
        self.in_room(self.alice, self.bob, self.carol)
        self.dispatcher.leave(self.carol, "connection closed")
        for client in (self.alice, self.bob):
            events = client.take()
            self.assertEqual(of(events, RoomLeft), [])
            self.assertEqual(
                [(e.name, e.reason) for e in of(events, Left)],
                [("carol", "connection closed")],
            )
        self.assertEqual(list(self.room().online.values()), ["alice", "bob"])
        self.dispatcher.leave(self.bob, "connection closed")
        [left] = of(self.alice.take(), RoomLeft)
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
        self.dispatcher.rooms.announce_limit = 2
        dave = self.guest("dave")
        self.send(dave, "/register sesame1")
        self.in_room(self.alice, self.bob, dave)
        self.dispatcher.leave(dave, "quit")
        self.in_room(self.carol)
        dave, events = self.log_in("dave")
        [entered] = of(events, RoomEntered)
        self.assertEqual(
            (entered.room, entered.rejoined, entered.count),
            ("#chess", True, 4),
        )
        for client in (self.alice, self.bob, self.carol):
            events = client.take()
            self.assertEqual(of(events, RoomJoined), [])
            self.assertEqual([e.name for e in of(events, Joined)], ["dave"])

    def test_topic_and_mode_always_announced(self) -> None:
        """
        Above the limit, topic and mode changes still reach every member:
        they are rare, and members need them (the docs: "Kicks, topics and
        modes are always announced").
        """
        self.dispatcher.rooms.announce_limit = 2
        self.in_room(self.alice, self.bob, self.carol)
        self.send(self.alice, "/topic #chess blitz only")
        for client in (self.alice, self.bob, self.carol):
            [topic] = client.take()
            assert isinstance(topic, RoomTopic)
            self.assertEqual(
                (topic.room, topic.topic, topic.by), ("#chess", "blitz only", "alice")
            )
        for flag, invite_only in (("+i", True), ("-i", False)):
            self.send(self.alice, f"/mode #chess {flag}")
            for client in (self.alice, self.bob, self.carol):
                [mode] = client.take()
                assert isinstance(mode, RoomMode)
                self.assertEqual(
                    (mode.room, mode.invite_only, mode.by),
                    ("#chess", invite_only, "alice"),
                )

    def test_entered_lists_at_most_50(self) -> None:
        """
        The join reply names at most 50 members, and always the count.
        """
        self.in_room(self.alice)
        for i in range(50):
            self.in_room(self.guest(f"u{i}"))
        self.send(self.bob, "/join #chess")
        [entered] = self.bob.take()
        assert isinstance(entered, RoomEntered)
        self.assertEqual((entered.members, entered.count), ((), 52))


class RoomHistoryTests(RoomsTestCase):
    def test_history(self) -> None:
        """
        Room messages are kept per room: a new member is shown the last
        few, members ask for more, non-members cannot, and the main
        history does not include them.
        """
        self.in_room(self.alice, self.bob)
        for text in ("one", "two", "three"):
            self.send(self.alice, f"#chess*{text}")
        self.send(self.carol, "/join #chess")
        events = self.carol.take()
        self.assertIsInstance(events[0], RoomEntered)
        self.assertEqual(
            [(e.text, e.room) for e in of(events, Past)],
            [("two", "#chess"), ("three", "#chess")],
        )
        [end] = of(events, PastEnd)
        self.assertEqual((end.count, end.room), (2, "#chess"))
        self.send(self.bob, "/history #chess 5")
        self.assertEqual(
            [e.text for e in of(self.bob.take(), Past)],
            ["one", "two", "three"],
        )
        dave = self.guest("dave")
        self.send(dave, "/history #chess")
        self.send(dave, "/history")
        events = dave.take()
        self.assertEqual(self.errors(events), ["not-in-room"])
        self.assertEqual(of(events, Past), [])


class RegisteredMemberTests(RoomsTestCase):
    def test_back_in_rooms_with_missed(self) -> None:
        """
        A registered member stays in its rooms when it logs out; at its
        next login it is put back before live traffic, shown what it
        missed (the newest, up to the limit), and the members are told.
        """
        self.dispatcher.rooms.missed_max = 2
        dave = self.guest("dave")
        self.send(dave, "/register sesame1")
        self.in_room(self.alice, dave)
        self.dispatcher.leave(dave, "quit")
        self.assertEqual(len(of(self.alice.take(), RoomLeft)), 1)
        for text in ("one", "two", "three"):
            self.clock.advance(1)
            self.send(self.alice, f"#chess*{text}")
        self.clock.advance(1)
        dave, events = self.log_in("dave")
        self.assertIsInstance(events[0], Welcome)
        rooms = of(events, RoomEntered)
        self.assertEqual(
            [(e.room, e.rejoined) for e in rooms],
            [("#chess", True)],
        )
        missed = [e for e in of(events, Past) if e.missed]
        self.assertEqual([e.text for e in missed], ["two", "three"])
        [end] = [e for e in of(events, PastEnd) if e.missed]
        self.assertEqual((end.room, end.count), ("#chess", 2))
        self.assertEqual(len(of(self.alice.take(), RoomJoined)), 1)
        self.send(self.alice, "#chess*four")
        self.assertEqual(
            [e.text for e in of(dave.take(), RoomMessage)],
            ["four"],
        )

    def test_registered_owner_keeps_room(self) -> None:
        """
        A registered owner keeps an empty room and its rights, and may join
        it when invite-only; its membership ends only with /leave.
        """
        dave = self.guest("dave")
        self.send(dave, "/register sesame1")
        self.in_room(dave)
        self.send(dave, "/mode #chess +i")
        self.send(dave, "/leave #chess")
        self.assertIsNotNone(self.dispatcher.rooms.rooms.get("#chess"))
        self.dispatcher.leave(dave, "quit")
        dave, events = self.log_in("dave")
        self.assertEqual(of(events, RoomEntered), [])
        self.send(dave, "/join #chess")
        self.assertEqual(of(dave.take(), RoomEntered)[0].owner, "dave")

    def test_unregister(self) -> None:
        """
        Giving a name up makes its memberships a guest's: they end with the
        connection.
        """
        dave = self.guest("dave")
        self.send(dave, "/register sesame1")
        self.in_room(self.alice, dave)
        self.send(dave, "/unregister sesame1")
        self.dispatcher.leave(dave, "quit")
        self.assertNotIn("dave", self.room().registered)
        self.assertEqual(list(self.room().online.values()), ["alice"])

    def test_unregister_drops_invitations(self) -> None:
        """
        An invitation of a registered name that never joined goes with the
        name: a guest who takes it later is not invited.
        """
        dave = self.guest("dave")
        self.send(dave, "/register sesame1")
        self.in_room(self.alice)
        self.send(self.alice, "/mode #chess +i")
        self.send(self.alice, "/invite dave #chess")
        self.assertEqual(self.room().invited, {"dave"})
        self.send(dave, "/unregister sesame1")
        self.dispatcher.leave(dave, "quit")
        self.assertEqual(self.room().invited, set())
        dave = self.guest("dave")
        self.send(dave, "/join #chess")
        self.assertEqual(self.errors(dave.take()), ["invite-only"])

    def test_restart(self) -> None:
        """
        Rooms, topics, owners, operators, invitations and registered
        memberships are in the store: a new dispatcher over it has them.
        """
        dave = self.guest("dave")
        self.send(dave, "/register sesame1")
        erin = self.guest("erin")
        self.send(erin, "/register sesame2")
        frank = self.guest("frank")
        self.send(frank, "/register sesame3")
        self.in_room(dave, erin, self.alice)
        self.send(dave, "/topic #chess Tuesday club")
        self.send(dave, "/op erin #chess")
        self.send(dave, "/mode #chess +i")
        self.send(dave, "/invite frank #chess")
        self.in_room(self.bob, room="#guests")
        again = Dispatcher(self.registry.__class__(), self.clock, store=self.store)
        self.successResultOf(again.load())
        room = again.rooms.rooms.get("#chess")
        assert room is not None
        self.assertEqual(
            (room.name, room.owner, room.topic, room.invite_only),
            ("#chess", "dave", "Tuesday club", True),
        )
        self.assertEqual(room.operators, {"erin"})
        self.assertEqual(room.invited, {"frank"})
        self.assertEqual(set(room.registered), {"dave", "erin"})
        self.assertEqual(room.online, {})
        self.assertIsNone(again.rooms.rooms.get("#guests"))


class NoticeTests(RoomsTestCase):
    def test_main_join_notice_unchanged(self) -> None:
        """
        Rooms change nothing of the main channel: a newcomer is still
        announced to everyone.
        """
        self.in_room(self.alice)
        self.guest("dave")
        self.assertEqual(len(of(self.bob.take(), Joined)), 1)


class StoppingTests(RoomsTestCase):
    def test_stopping(self) -> None:
        """
        When the server stops, members online are recorded as having seen
        everything so far, and nothing more is written after that (the
        store is closing).
        """
        dave = self.guest("dave")
        self.send(dave, "/register sesame1")
        self.in_room(dave, self.alice)
        self.in_room(self.bob, room="#guests")
        self.clock.advance(100)
        self.successResultOf(self.dispatcher.rooms.stopping())
        rooms = {r.key: r for r in self.successResultOf(self.store.load_rooms())}
        self.assertEqual(rooms["#chess"].members, {"dave": (False, START + 100)})
        self.dispatcher.leave(self.bob, "connection closed")
        self.assertIsNone(self.dispatcher.rooms.rooms.get("#guests"))
        rooms = {r.key: r for r in self.successResultOf(self.store.load_rooms())}
        self.assertIn("#guests", rooms)

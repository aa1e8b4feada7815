"""
Browser users, C{nc} users and the server in one chat: everyone (ALL), a
room, private conversations, registered logins with offline messages, and
the unread and mention counts.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.support import (
    BrowserTest,
    Server,
    WebUser,
    conversation,
    log_in_line,
    start_server,
)

PRIVATE = re.compile(r"(^|\s)private(\s|$)")
MENTION = re.compile(r"(^|\s)mention(\s|$)")
OFFLINE = re.compile(r"(^|\s)offline(\s|$)")
COUNTED = re.compile(r"^\(\d+\)")
PASSWORD = "sekrit-123"


class ConversationTests(BrowserTest):
    """
    Two browser users and an C{nc} user talk in every kind of conversation.
    """

    def test_all_room_and_private(self) -> None:
        """
        alice and bob (browsers) and carol (C{nc}) see each other's lines in
        ALL; in C{#club} the three are members, see the room's lines there
        and not in ALL, and its topic in the header; private lines reach
        only their recipient, in the conversation with the sender, and a
        reply typed in that conversation goes back to the sender alone.
        """
        server = start_server(self)
        carol = log_in_line(self, server, "carol")
        alice = WebUser(self, server, "alice")
        alice.log_in()
        bob = WebUser(self, server, "bob")
        bob.log_in()
        carol.expect("* bob just joined the server")
        expect(conversation(alice.page, "ALL")).to_have_attribute(
            "aria-current", "true"
        )

        alice.say("hello from alice")
        carol.expect("alice: hello from alice")
        bob.expect_line("hello from alice", "alice")
        alice.expect_line("hello from alice", "alice")
        carol.send_line("hello from carol")
        alice.expect_line("hello from carol", "carol")
        bob.expect_line("hello from carol", "carol")

        alice.say("/join #club")
        expect(conversation(alice.page, "#club")).to_be_visible()
        bob.say("/join #club")
        expect(conversation(bob.page, "#club")).to_be_visible()
        carol.send_line("/join #club")
        carol.expect("* You joined #club")
        alice.open("#club")
        expect(alice.page.locator("#conversation-title")).to_contain_text("#club")
        members = alice.page.locator("aside#members li.member")
        expect(members).to_have_count(3)
        for name in ("alice", "bob", "carol"):
            expect(members.filter(has_text=name)).to_have_count(1)
        alice.say("in the club")
        carol.expect("#club alice: in the club")
        bob.open("#club")
        bob.expect_line("in the club", "alice")
        carol.send_line("#club*carol in the club")
        alice.expect_line("carol in the club", "carol")
        bob.expect_line("carol in the club", "carol")
        alice.say("/topic #club Tuesday chess")
        carol.expect("set the topic of #club: Tuesday chess")
        expect(alice.page.locator("#topic")).to_contain_text("Tuesday chess")
        expect(bob.page.locator("#topic")).to_contain_text("Tuesday chess")
        bob.open("ALL")
        bob.expect_line("hello from carol")
        expect(bob.line("in the club")).to_have_count(0)

        bob.say("/dm alice a secret for alice")
        alice.open("@bob")
        expect(alice.expect_line("a secret for alice", "bob")).to_have_class(PRIVATE)
        alice.say("a secret reply")
        bob.open("@alice")
        bob.expect_line("a secret reply", "alice")
        bob.expect_line("a secret for alice", "bob")
        carol.send_line("alice*from carol privately")
        alice.open("@carol")
        alice.expect_line("from carol privately", "carol")
        expect(alice.line("secret")).to_have_count(0)
        alice.say("back to carol")
        carol.expect("[private] alice: back to carol")
        carol.barrier()  # whatever the server sent carol before is in
        secrets = [line for line in carol.received.lines if "secret" in line]
        self.assertEqual(secrets, [])
        alice.open("ALL")
        expect(alice.line("secret")).to_have_count(0)
        expect(alice.line("back to carol")).to_have_count(0)


class AccountTests(BrowserTest):
    """
    A registered name logs in from the page with its password.
    """

    def register(self, server: Server, name: str) -> None:
        """
        Register C{name} over C{nc}, then quit.
        """
        user = log_in_line(self, server, name)
        user.send_line(f"/register {PASSWORD}")
        user.expect("is now registered")
        user.send_line("/quit")
        user.expect("Goodbye")

    def test_wrong_password_then_right(self) -> None:
        """
        A wrong password is refused with the server's error and the name is
        asked again; the user types the name again, is asked for the
        password again (the page forgot the wrong one), and the right one
        logs in.
        """
        server = start_server(self)
        self.register(server, "dora")
        dora = WebUser(self, server, "dora")
        page = dora.page
        page.goto(server.url)
        dora.submit_login("wrong-password")
        expect(page.locator("#login-error")).to_contain_text("wrong password")
        expect(page.locator("main#chat")).to_be_hidden()
        expect(page.locator("#login-password")).to_be_hidden()
        dora.submit_login(PASSWORD)
        expect(page.locator("main#chat")).to_be_visible()

    def test_password_and_offline_message(self) -> None:
        """
        dora registered over C{nc} and left; carol's private line to her is
        stored. The page asks dora for her password, logs her in, and
        shows carol's line in their conversation, marked offline. The page
        acknowledges it: at the next login it is not delivered again.
        """
        server = start_server(self)
        self.register(server, "dora")
        carol = log_in_line(self, server, "carol")
        carol.send_line("dora*while you were out")
        carol.expect("* dora is offline; your message is stored")

        dora = WebUser(self, server, "dora")
        dora.log_in(PASSWORD)
        page = dora.page
        carol.expect("* dora just joined the server")
        dora.open("@carol")
        stored = dora.expect_line("while you were out", "carol")
        expect(stored).to_have_class(OFFLINE)

        page.reload()
        carol.expect("* dora left the chat")
        dora.submit_login(PASSWORD)
        expect(page.locator("main#chat")).to_be_visible()
        carol.send_line("dora*and now live")
        dora.open("@carol")
        live = dora.expect_line("and now live", "carol")
        expect(live).not_to_have_class(OFFLINE)
        expect(page.locator("#messages .line.offline")).to_have_count(0)


class UnreadTests(BrowserTest):
    """
    What the sidebar and the page title count.
    """

    def test_unread_mentions_and_title(self) -> None:
        """
        Lines in a conversation that is not open count as unread on its
        button and in the page title; a line naming alice also counts as a
        mention and is highlighted; opening the conversation clears both.
        """
        server = start_server(self)
        alice = WebUser(self, server, "alice")
        alice.log_in()
        bob = WebUser(self, server, "bob")
        bob.log_in()
        bob.say("/join #games")
        alice.say("/join #games")
        games = conversation(alice.page, "#games")
        expect(games).to_be_visible()
        bob.open("#games")
        alice.open("ALL")
        expect(alice.page).not_to_have_title(COUNTED)

        bob.say("first in games")
        bob.say("second in games")
        expect(games.locator(".unread")).to_have_text("2")
        expect(games.locator(".mention-count:not(:empty)")).to_have_count(0)
        expect(alice.page).to_have_title(re.compile(r"^\(2\) txchat"))

        bob.say("alice: look at this")
        expect(games.locator(".unread")).to_have_text("3")
        expect(games.locator(".mention-count")).to_have_text(re.compile(r"^@?1$"))
        bob.say("/dm alice psst")
        expect(conversation(alice.page, "@bob").locator(".unread")).to_have_text("1")
        expect(alice.page).to_have_title(re.compile(r"^\(4\) txchat"))

        alice.open("#games")
        expect(alice.expect_line("look at this", "bob")).to_have_class(MENTION)
        expect(alice.line("first in games")).not_to_have_class(MENTION)
        expect(games.locator(".unread:not(:empty)")).to_have_count(0)
        expect(games.locator(".mention-count:not(:empty)")).to_have_count(0)
        expect(alice.page).to_have_title(re.compile(r"^\(1\) txchat"))
        alice.open("@bob")
        alice.expect_line("psst", "bob")
        expect(alice.page).not_to_have_title(COUNTED)


class ButtonTests(BrowserTest):
    """
    The sidebar's buttons for the common commands.
    """

    def test_join_room_and_new_private(self) -> None:
        """
        "Join a room" asks for the room's name (in a dialog of the page,
        not the browser's prompt) and joins it; "new private conversation"
        asks for a name and opens a conversation with that user, where
        what alice types goes to that user alone.
        """
        server = start_server(self)
        carol = log_in_line(self, server, "carol")
        alice = WebUser(self, server, "alice")
        alice.log_in()
        page = alice.page

        page.click("button#join-room")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_role("textbox").fill("#knitting")
        dialog.get_by_role("textbox").press("Enter")
        expect(dialog).to_be_hidden()
        room = conversation(page, "#knitting")
        expect(room).to_have_attribute("aria-current", "true")
        carol.send_line("/who #knitting")
        carol.expect("* Members of #knitting (1): @alice")

        page.click("button#new-private")
        expect(dialog).to_be_visible()
        dialog.get_by_role("textbox").fill("carol")
        dialog.get_by_role("textbox").press("Enter")
        expect(dialog).to_be_hidden()
        expect(conversation(page, "@carol")).to_have_attribute("aria-current", "true")
        alice.say("just for carol")
        carol.expect("[private] alice: just for carol")

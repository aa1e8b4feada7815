"""
User text is shown as text: markup stays characters, nothing runs, and no
control character reaches the page raw (escape sequences, bells and
right-to-left overrides are shown escaped, not obeyed).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.support import BrowserTest, WebUser, log_in_line, start_server

IMG = "<img src=x onerror=alert(1)>"
CONTROLS = ("\x1b", "\x07", "\u202e", "\x00", "\x9b")
HOSTILE = f"{IMG} \x1b[31mred\x07 \u202eevil"
# A valid user name (ASCII punctuation is allowed, spaces are not).
NASTY_NAME = "<img/src=x/onerror=alert(4)>"


class HostileTextTests(BrowserTest):
    def assertNoRawControls(self, text: str | None, where: str) -> None:
        self.assertIsNotNone(text, where)
        assert text is not None
        for char in CONTROLS:
            self.assertNotIn(char, text, f"raw U+{ord(char):04X} in {where}: {text!r}")

    def test_markup_and_controls_shown_as_text(self) -> None:
        """
        A line, an action, a topic and a user name full of HTML and
        control characters, from C{nc} and from another page: alice's page
        shows the markup as characters (no element is made of it, no alert
        opens), and the controls escaped, never raw. Only http(s) URLs
        become links, with rel=noopener.
        """
        server = start_server(self)
        alice = WebUser(self, server, "alice")
        alice.log_in()
        bob = WebUser(self, server, "bob")
        bob.log_in()
        mallory = log_in_line(self, server, NASTY_NAME)
        page = alice.page
        messages = page.locator("#messages")

        mallory.send_line(HOSTILE)
        shown = alice.expect_line("onerror=alert(1)", NASTY_NAME)
        text = shown.locator(".text").text_content()
        assert text is not None
        self.assertIn(IMG, text)
        # The escape is visible, shown by name (^[ as in text mode, or ␛).
        self.assertRegex(text, r"(\^\[|\u241b|U\+001B)\[31mred")
        self.assertIn("evil", text)
        self.assertNoRawControls(text, "the line")
        self.assertNoRawControls(messages.text_content(), "#messages")

        mallory.send_line("/me <i>dances</i>\x1b]52;c;aGk=\x07")
        action = alice.expect_line("dances")
        self.assertIn("<i>dances</i>", action.text_content() or "")
        self.assertNoRawControls(action.text_content(), "the action")

        mallory.send_line("see https://example.org/x?a=1 or javascript:alert(5)")
        linked = alice.expect_line("example.org/x", NASTY_NAME)
        link = linked.locator("a")
        expect(link).to_have_count(1)
        expect(link).to_have_attribute("href", "https://example.org/x?a=1")
        expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
        expect(messages.locator('a[href^="javascript"]')).to_have_count(0)

        bob.say("<script>alert(2)</script><b>bold</b>")
        alice.expect_line("<script>alert(2)</script><b>bold</b>", "bob")

        mallory.send_line("/join #x")
        mallory.expect("* You created #x")
        mallory.send_line("/topic #x <img src=y onerror=alert(3)>\x1b[2J")
        mallory.expect("set the topic of #x")
        alice.say("/join #x")
        alice.open("#x")
        topic = page.locator("#topic")
        expect(topic).to_contain_text("<img src=y onerror=alert(3)>")
        self.assertNoRawControls(topic.text_content(), "#topic")
        mallory.send_line("#x*last line")
        alice.expect_line("last line", NASTY_NAME)

        for selector in ("img", "script", "b", "i", "iframe"):
            expect(messages.locator(selector)).to_have_count(0)
            expect(page.locator(f"#topic {selector}")).to_have_count(0)
            expect(page.locator(f"nav#conversations {selector}")).to_have_count(0)
            expect(page.locator(f"aside#members {selector}")).to_have_count(0)
        self.assertNoRawControls(page.locator("body").text_content(), "the page")
        self.assertEqual(alice.problems, [])
        self.assertEqual(bob.problems, [])

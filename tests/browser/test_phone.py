"""
The page on a phone-sized screen (390 x 844 CSS pixels): the sidebars are
drawers that open and close, and the conversation fills the screen.
"""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.browser.support import (
    PHONE,
    BrowserTest,
    WebUser,
    conversation,
    log_in_line,
    start_server,
)


def toggle(page: Page, drawer: str) -> Locator:
    """
    The visible button that opens or closes the drawer C{drawer} (an id).
    """
    return page.locator(f'button[aria-controls="{drawer}"]:visible').first


def fits(page: Page) -> None:
    """
    Nothing is wider than the screen: no sideways scrolling.
    """
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE[0], f"the page is {width} px wide on a {PHONE[0]} px screen"


TOPIC = "Sunday walks: meet at the station at nine, bring water, boots and a map"


class PhoneTests(BrowserTest):
    def test_drawers_and_sending(self) -> None:
        """
        After login on a phone the messages and the composer are on screen
        and the sidebars are not; the conversations drawer opens from its
        button (C{aria-expanded} follows), choosing a room in it closes it,
        Escape closes it too; the members drawer opens in the room; a line
        typed on the phone reaches an C{nc} user. Nothing, not even a topic
        longer than the screen is wide, makes the page scroll sideways.
        """
        server = start_server(self)
        carol = log_in_line(self, server, "carol")
        carol.send_line("/join #walk")
        carol.expect("* You created #walk")
        # Longer than a phone is wide: it must not widen the page.
        carol.send_line(f"/topic #walk {TOPIC}")
        carol.expect("set the topic of #walk")
        alice = WebUser(self, server, "alice", viewport=PHONE)
        alice.log_in()
        page = alice.page
        nav = page.locator("nav#conversations")
        members = page.locator("aside#members")
        expect(page.locator("#messages")).to_be_in_viewport()
        expect(page.locator("#input")).to_be_in_viewport()
        expect(nav).not_to_be_in_viewport()
        expect(members).not_to_be_in_viewport()
        fits(page)

        alice.say("/join #walk")
        carol.expect("* alice joined #walk")
        expect(page.locator("#topic")).to_contain_text(TOPIC[:20])
        fits(page)
        opener = toggle(page, "conversations")
        expect(opener).to_have_attribute("aria-expanded", "false")
        opener.click()
        expect(nav).to_be_in_viewport()
        expect(toggle(page, "conversations")).to_have_attribute("aria-expanded", "true")
        room = conversation(page, "#walk")
        room.click()
        expect(room).to_have_attribute("aria-current", "true")
        expect(nav).not_to_be_in_viewport()
        expect(page.locator("#conversation-title")).to_contain_text("#walk")

        toggle(page, "conversations").click()
        expect(nav).to_be_in_viewport()
        page.keyboard.press("Escape")
        expect(nav).not_to_be_in_viewport()

        expect(toggle(page, "members")).to_be_in_viewport()
        toggle(page, "members").click()
        expect(members).to_be_in_viewport()
        expect(members.locator("li.member")).to_have_count(2)
        page.keyboard.press("Escape")
        expect(members).not_to_be_in_viewport()

        alice.say("typed on a phone")
        carol.expect("#walk alice: typed on a phone")
        alice.expect_line("typed on a phone", "alice")
        fits(page)

"""
Accessibility that a test can check: ARIA roles and names, the keyboard
alone, and WCAG AA contrast of every piece of text in the light and the
dark theme.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from playwright.sync_api import Page, expect

from tests.browser.support import (
    BrowserTest,
    WebUser,
    conversation,
    log_in_line,
    scene,
    start_server,
)

# For every visible element with text of its own (or a form field's value
# or placeholder): its colour over the colour behind it (the backgrounds of
# its ancestors composited, over the canvas), and the WCAG 2 contrast ratio.
# A canvas turns any CSS colour (oklch, color-mix, ...) into sRGB.
CONTRAST_JS = """
() => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const parse = (css) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = "rgba(0, 0, 0, 0)";
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, bottom) =>
    [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const scheme = getComputedStyle(document.documentElement).colorScheme;
  const darkCanvas = scheme.includes("dark") &&
    (!scheme.includes("light") || matchMedia("(prefers-color-scheme: dark)").matches);
  const canvasColor = darkCanvas ? [18, 18, 18, 1] : [255, 255, 255, 1];
  const behind = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let color = canvasColor;
    for (let i = layers.length - 1; i >= 0; i--) color = over(layers[i], color);
    return color;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const describe = (e) =>
    e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    [...e.classList].map((c) => "." + c).join("");
  const checked = [];
  for (const e of document.querySelectorAll("body *")) {
    if (!e.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    const rect = e.getBoundingClientRect();
    if (rect.width < 1 || rect.height < 1 || e.matches(":disabled")) continue;
    let text = "";
    let style = getComputedStyle(e);
    if (e.matches("input:not([type=hidden]):not([type=file]), textarea")) {
      text = e.value;
      if (!text && e.placeholder) {
        text = e.placeholder;
        style = getComputedStyle(e, "::placeholder");
      }
    } else {
      for (const n of e.childNodes) if (n.nodeType === 3) text += n.textContent;
    }
    text = text.trim();
    if (!text) continue;
    let opacity = 1;
    for (let a = e; a; a = a.parentElement) opacity *= +getComputedStyle(a).opacity;
    const bg = behind(e);
    const fg = parse(style.color);
    fg[3] *= opacity;
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && +style.fontWeight >= 700);
    checked.push({
      element: describe(e),
      text: text.slice(0, 40),
      ratio: Math.round(ratio(over(fg, bg), bg) * 100) / 100,
      needed: large ? 3 : 4.5,
      fg: fg.map((v) => Math.round(v * 100) / 100),
      bg: bg.map(Math.round),
    });
  }
  return checked;
}
"""

# The luminance of what is behind the message list, for the theme check.
BACKDROP_JS = """
(el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (m) {
      const [r, g, b, a] = m[1].split(/[ ,\\/]+/).map(Number);
      if (a === undefined || a > 0.9) {
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
      }
    }
  }
  return null;
}
"""

Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")
NONEMPTY = re.compile(r"\S")


def contrast(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(CONTRAST_JS)
    return result


def tab_to(page: Page, selector: str, presses: int = 60) -> None:
    """
    Press Tab until the focused element matches C{selector}.

    @raise AssertionError: if it never does within C{presses} presses.
    """
    for _ in range(presses):
        if page.evaluate(
            "s => document.activeElement !== null && document.activeElement.matches(s)",
            selector,
        ):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} not reached by {presses} presses of Tab")


def focus_ring(page: Page) -> bool:
    """
    Whether the focused element shows that it is (an outline or a shadow).
    """
    shown: bool = page.evaluate(
        """() => {
          const s = getComputedStyle(document.activeElement);
          const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
          return outline || s.boxShadow !== "none";
        }"""
    )
    return shown


class RolesTests(BrowserTest):
    def test_roles_and_names(self) -> None:
        """
        The landmarks and live regions have their roles (the message list
        is a polite log, the banner a status, login errors an alert), and
        every visible control has an accessible name.
        """
        server = start_server(self)
        alice = WebUser(self, server, "alice")
        page = alice.page
        page.goto(server.url)
        expect(page.locator("html")).to_have_attribute("lang", NONEMPTY)
        expect(page.locator("#login-error")).to_have_attribute("role", "alert")
        expect(page.locator("#login-name")).to_have_accessible_name(NONEMPTY)
        alice.log_in()
        expect(page.get_by_role("main")).to_have_count(1)
        expect(page.get_by_role("navigation")).not_to_have_count(0)
        log = page.get_by_role("log")
        expect(log).to_have_count(1)
        expect(log).to_have_id("messages")
        expect(log).to_have_attribute("aria-live", "polite")
        expect(page.locator("#banner")).to_have_attribute("role", "status")
        expect(page.locator("#input")).to_have_accessible_name(NONEMPTY)
        for selector in ("button#join-room", "button#new-private", "button#attach"):
            expect(page.locator(selector)).to_have_accessible_name(NONEMPTY)
        controls = page.locator("button:visible, input:visible, textarea:visible")
        self.assertGreater(controls.count(), 3)
        for control in controls.all():
            expect(control).to_have_accessible_name(NONEMPTY)


class KeyboardTests(BrowserTest):
    def test_keyboard_only(self) -> None:
        """
        With nothing but the keyboard alice logs in, sends a line, joins a
        room, switches from conversation to conversation (the focused
        button shows its focus) and sends a line to the room.
        """
        server = start_server(self)
        carol = log_in_line(self, server, "carol")
        carol.send_line("/join #kb")
        carol.expect("* You created #kb")
        alice = WebUser(self, server, "alice")
        page = alice.page
        page.goto(server.url)
        tab_to(page, "#login-name")
        page.keyboard.type("alice")
        page.keyboard.press("Enter")
        expect(page.locator("main#chat")).to_be_visible()
        carol.expect("* alice just joined the server")

        tab_to(page, "#input")
        page.keyboard.type("typed without a mouse")
        page.keyboard.press("Enter")
        carol.expect("alice: typed without a mouse")
        tab_to(page, "#input")
        page.keyboard.type("/join #kb")
        page.keyboard.press("Enter")
        carol.expect("* alice joined #kb")

        everyone = 'button.conversation[data-conversation="ALL"]'
        tab_to(page, everyone)
        self.assertTrue(focus_ring(page), "the focused conversation shows no focus")
        page.keyboard.press("Enter")
        expect(conversation(page, "ALL")).to_have_attribute("aria-current", "true")
        tab_to(page, 'button.conversation[data-conversation="#kb"]')
        page.keyboard.press("Enter")
        expect(conversation(page, "#kb")).to_have_attribute("aria-current", "true")
        tab_to(page, "#input")
        page.keyboard.type("in the room by keyboard")
        page.keyboard.press("Enter")
        carol.expect("#kb alice: in the room by keyboard")


class ContrastTests(BrowserTest):
    def check(self, page: Page, where: str) -> int:
        """
        Fail with every piece of text under WCAG AA contrast; the number
        of pieces checked.
        """
        # Colours in a transition are neither theme's: let them finish.
        page.evaluate(
            "Promise.all(document.getAnimations()"
            ".filter(a => a.effect.getComputedTiming().iterations !== Infinity)"
            ".map(a => a.finished))"
        )
        checked = contrast(page)
        failing = [c for c in checked if c["ratio"] < c["needed"]]
        self.assertEqual(failing, [], f"text under WCAG AA contrast in {where}")
        return len(checked)

    def test_contrast_light_and_dark(self) -> None:
        """
        Every visible text of the login screen and of the chat (a room with
        its topic and members, a mention, unread and mention badges, a
        private conversation with a file offer) has a contrast of at least
        4.5 (3 for large text) in the light theme and in the dark one, and
        the dark theme is dark.
        """
        server = start_server(self)
        login = WebUser(self, server, "login")
        login.page.goto(server.url)
        expect(login.page.locator("form#login")).to_be_visible()
        for scheme in SCHEMES:
            login.page.emulate_media(color_scheme=scheme)
            self.assertGreater(self.check(login.page, f"the {scheme} login"), 1)

        alice = scene(self, server)
        page = alice.page
        backdrop: dict[str, float] = {}
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            backdrop[scheme] = page.eval_on_selector("#messages", BACKDROP_JS)
            for key in ("#garden", "@bob", "ALL"):
                alice.open(key)
                self.assertGreater(self.check(page, f"{key}, {scheme}"), 5)
        self.assertGreater(backdrop["light"], 0.6, backdrop)
        self.assertLess(backdrop["dark"], 0.25, backdrop)

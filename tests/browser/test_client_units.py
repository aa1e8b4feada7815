"""
Unit checks of the web client's modules (C{chat/web/static}), run in
Debian's Chromium through Playwright with no server: the installed
package's static files are served to the page by Playwright's routing,
with the door's Content-Security-Policy.  Also, without a browser, the
WCAG contrast of the colours in C{app.css}.

Skipped when Chromium is missing, unless C{TXCHAT_BROWSER_REQUIRED} is
set (CI), which makes that a failure.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path
from typing import Any, Final
from unittest import SkipTest

from twisted.trial.unittest import SynchronousTestCase

from chat.lines.syntax import RoomSay, Say, Slash, Whisper, parse
from tests.browser.support import shared_browser

#: The page's origin: never resolved, Playwright answers every request.
ORIGIN: Final = "http://units.test"
#: The door's policy (the contract of issue 17), so that the modules are
#: checked under it.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
TIMEOUT_MS: Final = 30_000
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def static_directory() -> Path:
    """
    The client's files as installed (so that package_data is checked too).
    """
    return Path(str(files("chat.web").joinpath("static")))


def _serve(route: Any) -> None:
    """
    Answer a request of the page from the installed static files, with the
    door's headers; 404 for anything else.
    """
    path = route.request.url.removeprefix(ORIGIN).split("?")[0].lstrip("/")
    root = static_directory()
    target = (root / (path or "index.html")).resolve()
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    if root.resolve() not in target.parents or not target.is_file():
        route.fulfill(status=404, body="not found", headers=headers)
        return
    headers["Content-Type"] = _TYPES.get(target.suffix, "application/octet-stream")
    route.fulfill(status=200, body=target.read_bytes(), headers=headers)


class ClientUnitTest(SynchronousTestCase):
    """
    A page of the client's origin, its modules imported by C{evaluate}.
    """

    def setUp(self) -> None:
        # The process's one Playwright: a second sync Playwright in the
        # same thread refuses to start (the first one's loop counts as
        # running between calls).
        browser = shared_browser()
        self.context = browser.new_context()
        self.addCleanup(self.context.close)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.route(f"{ORIGIN}/**", _serve)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.on(
            "console",
            lambda message: (
                self.problems.append(message.text) if message.type == "error" else None
            ),
        )
        self.page.goto(f"{ORIGIN}/")

    def run_js(self, body: str, argument: Any = None) -> Any:
        """
        Run an async function body that may C{await import(...)} modules.
        """
        return self.page.evaluate(f"async (arg) => {{ {body} }}", argument)


class Sha256Tests(ClientUnitTest):
    """
    C{sha256.js}: the hash of files the browser uploads, computed
    incrementally (crypto.subtle is missing on plain http).
    """

    VECTORS: Final = {
        "": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq": (
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu": (
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
    }

    def test_known_vectors(self) -> None:
        """
        FIPS 180-2's examples, and a million 'a's (NIST's long message).
        """
        got = self.run_js(
            "const { sha256Hex } = await import('/sha256.js');"
            "const out = {};"
            "for (const text of arg) out[text] = sha256Hex(text);"
            "out.million = sha256Hex(new Uint8Array(1000000).fill(0x61));"
            "return out;",
            list(self.VECTORS),
        )
        for text, digest in self.VECTORS.items():
            self.assertEqual(got[text], digest, text)
        self.assertEqual(
            got["million"],
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        )

    def test_incremental(self) -> None:
        """
        Any split of the input into updates gives hashlib's digest: every
        length around the 64-byte block and the 56-byte padding limit,
        fed in pieces of 1 to 70 bytes.
        """
        data = bytes((i * 131 + 7) % 256 for i in range(300))
        got = self.run_js(
            "const { Sha256 } = await import('/sha256.js');"
            "const all = new Uint8Array(arg);"
            "const out = [];"
            "for (let n = 0; n <= all.length; n++) {"
            "  for (const step of [1, 7, 55, 56, 63, 64, 65, 70]) {"
            "    const hash = new Sha256();"
            "    for (let at = 0; at < n; at += step) {"
            "      hash.update(all.subarray(at, Math.min(n, at + step)));"
            "    }"
            "    out.push([n, step, hash.hexDigest()]);"
            "  }"
            "}"
            "return out;",
            list(data),
        )
        self.assertEqual(len(got), 301 * 8)
        for length, step, digest in got:
            self.assertEqual(
                digest, hashlib.sha256(data[:length]).hexdigest(), (length, step)
            )

    def test_update_after_digest(self) -> None:
        """
        A finished hash refuses more data rather than give a wrong digest.
        """
        message = self.run_js(
            "const { Sha256 } = await import('/sha256.js');"
            "const hash = new Sha256(); hash.hexDigest();"
            "try { hash.update(new Uint8Array(1)); return 'accepted'; }"
            "catch (error) { return error.message; }"
        )
        self.assertIn("after digest", message)

    def test_file(self) -> None:
        """
        C{hashFile} reads a File a slice at a time, with progress, to the
        same digest.
        """
        data = bytes(range(256)) * 4200  # a 1 MiB slice and a bit
        got = self.run_js(
            "const { hashFile } = await import('/files.js');"
            "const bytes = Uint8Array.from(atob(arg), (c) => c.charCodeAt(0));"
            "const file = new File([bytes], 'x.bin');"
            "const seen = [];"
            "const digest = await hashFile(file, (done) => seen.push(done));"
            "return { digest, seen };",
            base64.b64encode(data).decode("ascii"),
        )
        self.assertEqual(got["digest"], hashlib.sha256(data).hexdigest())
        self.assertEqual(got["seen"][-1], len(data))
        self.assertEqual(got["seen"], sorted(got["seen"]))


class RenderTests(ClientUnitTest):
    """
    C{render.js}: users' text is only ever text.
    """

    def line(self, text: str, kind: str = "message") -> dict[str, Any]:
        """
        The element C{lineElement} makes for C{text}: its HTML, its text,
        its links.
        """
        return self.run_js(  # type: ignore[no-any-return]
            "const { lineElement } = await import('/render.js');"
            "const node = lineElement({ kind: arg.kind, from: 'eve', text: arg.text,"
            "  time: '2026-11-21T15:43:16.123Z', id: 7, flags: ['mention'] });"
            "document.body.append(node);"
            "return { html: node.innerHTML,"
            "  text: node.querySelector('.text').textContent,"
            "  classes: node.className, id: node.dataset.id,"
            "  sender: node.querySelector('.sender').textContent,"
            "  elements: [...node.querySelectorAll('.text *')].map((e) => e.tagName),"
            "  links: [...node.querySelectorAll('a')].map((a) => ({ href: a.href,"
            "    rel: a.rel, target: a.target, text: a.textContent })) };",
            {"text": text, "kind": kind},
        )

    def test_markup_is_text(self) -> None:
        """
        Markup in a message is shown, never parsed: no element is made.
        """
        text = '<img src=x onerror=alert(1)><script>alert(2)</script>&amp;"'
        got = self.line(text)
        self.assertEqual(got["text"], text)
        self.assertEqual(got["elements"], [])
        self.assertNotIn("<img", got["html"])
        self.assertEqual(got["classes"], "line message mention")
        self.assertEqual(got["id"], "7")
        self.assertEqual(got["sender"], "eve")
        self.assertEqual(self.problems, [])

    def test_controls_by_name(self) -> None:
        """
        Control characters, bidi controls and separators are shown by name
        (as the server's text mode shows them); tabs and format characters
        such as the zero-width joiner are kept.
        """
        got = self.line("a\x1b[2Jb\x07c\u202etxt\u2028\x7f\x9b\td\u200de")
        self.assertEqual(
            got["text"], "a^[[2Jb^Gc<U+202E>txt<U+2028>^?<U+009B>\td\u200de"
        )
        self.assertEqual(set(got["elements"]), {"SPAN"})

    def test_links(self) -> None:
        """
        Only http(s) URLs become links, opened without an opener or a
        referrer; a trailing full stop or bracket stays text.
        """
        got = self.line(
            "see https://example.org/a_(b) and http://x.test/p?q=1. "
            "javascript:alert(1) data:text/html,hi (https://y.test/z)"
        )
        self.assertEqual(
            [link["href"] for link in got["links"]],
            ["https://example.org/a_(b)", "http://x.test/p?q=1", "https://y.test/z"],
        )
        for link in got["links"]:
            self.assertEqual(link["rel"], "noopener noreferrer")
            self.assertEqual(link["target"], "_blank")
        self.assertIn("javascript:alert(1)", got["text"])

    def test_colours(self) -> None:
        """
        A name always gets the same colour, whatever its case, among the
        twelve app.css defines.
        """
        got = self.run_js(
            "const { colourClass } = await import('/render.js');"
            "return arg.map((name) => colourClass(name));",
            ["alice", "ALICE", "bob", "carol", "dave", "Élodie", "שלום"],
        )
        self.assertEqual(got[0], got[1])
        self.assertTrue(all(re.fullmatch(r"colour-([0-9]|1[01])", c) for c in got))
        self.assertGreater(len(set(got)), 2)


class SyntaxTests(ClientUnitTest):
    """
    C{syntax.js} reads a typed line as the server's parser does, so that
    one's own message is shown where the server sends it.
    """

    LINES: Final = (
        "hello",
        "bob*hi there",
        "ALL*to all",
        "all*to all",
        "#chess*e4",
        "2 * 3 = 6",
        "*bold*",
        "a*b*c",
        "#bad room*x",
        "/dm bob psst",
        "/msg bob  two spaces",
        "/dm bob",
        "/bm hi",
        "/me waves",
        "/say #chess e4?",
        "/join #chess",
        "/register hunter22",
    )

    def test_like_the_server(self) -> None:
        """
        Each line's kind, addressee and text are the server's.
        """
        got = self.run_js(
            "const { classify } = await import('/syntax.js');"
            "return arg.map((line) => classify(line));",
            list(self.LINES),
        )
        for line, said in zip(self.LINES, got, strict=True):
            expected = _server_reading(line)
            if expected is None:
                self.assertIsNone(said, line)
                continue
            kind, to, room, text = expected
            self.assertEqual(
                (said["kind"], said.get("to"), said.get("room"), said["text"]),
                (kind, to, room, text),
                line,
            )


def _server_reading(line: str) -> tuple[str, str | None, str | None, str] | None:
    """
    What the server makes of C{line}: (kind, recipient, room, text), or
    C{None} for a command that sends no message.
    """
    command = parse(line)
    if isinstance(command, RoomSay):
        return ("message", None, command.room, command.text)
    if isinstance(command, Whisper):
        return ("private", command.target, None, command.text)
    if isinstance(command, Say):
        return ("message", None, None, command.text)
    assert isinstance(command, Slash)
    args = command.args
    if command.name in ("dm", "msg"):
        target, _, text = args.lstrip().partition(" ")
        return ("private", target, None, text) if text else None
    if command.name in ("bm", "me") and args:
        return ("action" if command.name == "me" else "message", None, None, args)
    if command.name == "say":
        room, _, text = args.lstrip().partition(" ")
        return ("message", None, room, text)
    return None


class ConnectionTests(ClientUnitTest):
    """
    C{connection.js}: reconnection waits 1 s, doubling to 30 s, with
    jitter (between half and all of it).
    """

    def test_backoff(self) -> None:
        got = self.run_js(
            "const { backoffDelay } = await import('/connection.js');"
            "return [0, 1, 2, 3, 4, 5, 6, 20, 1000].map((n) =>"
            "  [backoffDelay(n, () => 0), backoffDelay(n, () => 0.999999)]);"
        )
        ceilings = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]
        for (low, high), ceiling in zip(got, ceilings, strict=True):
            self.assertEqual(low, ceiling / 2)
            self.assertTrue(ceiling - 1 <= high <= ceiling, (high, ceiling))


class PageTests(ClientUnitTest):
    """
    The page itself under the door's policy.
    """

    def test_loads_under_policy(self) -> None:
        """
        The login form shows, with no error and nothing the policy blocks
        (Chromium reports violations on the console), and the password
        field is hidden until the server asks for it.
        """
        self.page.wait_for_selector("form#login", state="visible")
        self.assertTrue(self.page.is_hidden("#login-password"))
        self.assertTrue(self.page.is_hidden("main#chat"))
        self.assertEqual(self.page.title(), "txchat")
        self.assertEqual(self.problems, [])
        styles = self.page.evaluate(
            "getComputedStyle(document.body).getPropertyValue('--text').trim()"
        )
        self.assertRegex(styles, "^#[0-9a-f]{6}$")

    def test_no_inline_code(self) -> None:
        """
        No inline script, style or event handler attribute anywhere in the
        page (the policy would block them), and no external resource.
        """
        html = (static_directory() / "index.html").read_text()
        self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)")
        self.assertNotRegex(html, r"<style|\sstyle=|\son[a-z]+=")
        self.assertNotRegex(html, r"(src|href)=\"(https?:)?//")
        for module in static_directory().glob("*.js"):
            source = module.read_text()
            self.assertNotIn("innerHTML", source, module.name)
            self.assertNotIn("eval(", source, module.name)


# Contrast (WCAG 2.1): no browser needed.

#: Text colours and the backgrounds each is drawn on (app.css).
CONTRAST_PAIRS: Final = (
    (("--text",), ("--bg", "--panel", "--current", "--mention-bg", "--banner")),
    (("--muted",), ("--bg", "--panel", "--current", "--mention-bg")),
    (("--error",), ("--bg", "--panel", "--mention-bg")),
    (("--link",), ("--bg", "--mention-bg")),
    (
        tuple(f"--sender-{i}" for i in range(12)),
        ("--bg", "--panel", "--current", "--mention-bg"),
    ),
    (("--accent-text",), ("--accent",)),
    (("--badge-text",), ("--badge", "--badge-mention")),
)


def _colours(css: str, start: str) -> dict[str, str]:
    """
    The custom properties with hex values in the block opened by C{start}.
    """
    at = css.index(start)
    block = css[at : css.index("}", at)]
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})\b", block))


def _luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else float(((c + 0.055) / 1.055) ** 2.4)

    r, g, b = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """
    The WCAG contrast ratio of two colours (#rrggbb), 1 to 21.
    """
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


class ContrastTests(SynchronousTestCase):
    """
    Every text colour of both themes meets WCAG AA (4.5:1) on every
    background it is drawn on.
    """

    def test_contrast(self) -> None:
        self.assertAlmostEqual(contrast("#000000", "#ffffff"), 21.0)
        css = (static_directory() / "app.css").read_text()
        light = _colours(css, ":root {")
        dark = {**light, **_colours(css, "@media (prefers-color-scheme: dark) {")}
        self.assertNotEqual(light["--bg"], dark["--bg"])
        failures = []
        for theme, colours in (("light", light), ("dark", dark)):
            for foregrounds, backgrounds in CONTRAST_PAIRS:
                for fg in foregrounds:
                    for bg in backgrounds:
                        ratio = contrast(colours[fg], colours[bg])
                        if ratio < 4.5:
                            failures.append(f"{theme} {fg} on {bg}: {ratio:.2f}")
        self.assertEqual(failures, [])

    def test_every_sender_colour_defined(self) -> None:
        """
        render.js's palette size matches the classes app.css styles.
        """
        css = (static_directory() / "app.css").read_text()
        render = (static_directory() / "render.js").read_text()
        size = int(re.search(r"SENDER_COLOURS = (\d+)", render).group(1))  # type: ignore[union-attr]
        for i in range(size):
            self.assertIn(f".colour-{i} {{", css)
        self.assertNotIn(f".colour-{size} {{", css)


class PackagingTests(SynchronousTestCase):
    """
    C{make install} ships every file of the client (setup.cfg's
    package_data), subdirectories included.
    """

    def test_static_installed(self) -> None:
        source = Path(__file__).parent.parent.parent / "chat" / "web" / "static"
        if not source.is_dir():
            raise SkipTest("not run from a checkout")
        wanted = {p.relative_to(source) for p in source.rglob("*") if p.is_file()}
        installed = static_directory()
        got = {p.relative_to(installed) for p in installed.rglob("*") if p.is_file()}
        self.assertIn(Path("index.html"), wanted)
        self.assertEqual(wanted - got, set())

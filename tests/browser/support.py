"""
Helpers for the browser tests: Debian's Chromium driven by Playwright's
sync API, the installed C{twistd chat} with its web door in a subprocess,
C{nc}-like users on blocking sockets and C{chat-client} in a subprocess.

The tests are plain synchronous trial methods (L{SynchronousTestCase}):
Playwright's sync API runs its own event loop, which must not be nested in
Twisted's reactor, so nothing here uses the reactor at all. Every wait is
bounded: Playwright's timeouts, socket timeouts, C{Condition.wait} with a
deadline; there is no sleep anywhere.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Final, Protocol
from unittest import SkipTest

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from twisted.trial.unittest import SynchronousTestCase

from tests.e2e.support import EXEMPT_LOOPBACK, TWISTD, stale_install
from tests.e2e.test_client import CHAT_CLIENT

# Never download a browser: Debian's chromium is the one we drive.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

#: Seconds any single wait may take (a busy two-core CI machine is slow).
TIMEOUT: Final = 15.0
TIMEOUT_MS: Final = TIMEOUT * 1000
expect.set_options(timeout=TIMEOUT_MS)

#: Where Debian puts Chromium; C{$CHROMIUM} names another.
DEFAULT_CHROMIUM: Final = "/usr/bin/chromium"

#: Set (to anything but empty or 0) by CI: a missing Chromium fails the
#: browser tests instead of skipping them.
REQUIRED_VARIABLE: Final = "TXCHAT_BROWSER_REQUIRED"

MISSING: Final = "Debian's chromium is not installed: apt-get install chromium"

#: No sandbox (CI runs as root in a container), no GPU, nothing talking to
#: Google in the background.
CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

DESKTOP: Final = (1280, 800)
PHONE: Final = (390, 844)

_WEB_PORT: Final = re.compile(r"web client on https?://[^\s/]+:(\d+)/")
_LINE_PORT: Final = re.compile(r"ChatFactory starting on (\d+)$")
_LINE_END: Final = re.compile(r"\r\n|\n")


def chromium() -> str:
    """
    The Chromium to drive.

    @raise SkipTest: if there is none (C{make test} on a machine without it).
    @raise AssertionError: if there is none and L{REQUIRED_VARIABLE} is set
        (CI, which installs it: a skip there would hide a broken install).
    """
    path = os.environ.get("CHROMIUM") or DEFAULT_CHROMIUM
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    reason = f"{MISSING} (no executable {path}; $CHROMIUM names another)"
    if os.environ.get(REQUIRED_VARIABLE, "") not in ("", "0"):
        raise AssertionError(f"{reason}, and {REQUIRED_VARIABLE} is set")
    raise SkipTest(reason)


class BrowserTest(SynchronousTestCase):
    """
    A browser test: skipped (or failed, in CI) before anything starts when
    there is no Chromium.
    """

    def setUp(self) -> None:
        chromium()


def launch(playwright: Playwright) -> Browser:
    """
    Debian's Chromium, headless, with a fresh temporary profile.
    """
    return playwright.chromium.launch(
        executable_path=chromium(),
        args=list(CHROMIUM_ARGS),
        timeout=TIMEOUT_MS * 2,
    )


class _Shared:
    """
    One Playwright and one Chromium per test process, started by the first
    browser test and stopped at exit: a launch costs about a second, and
    every test gets its own browser context (cookies, storage, cache) anyway.
    """

    playwright: Playwright | None = None
    browser: Browser | None = None

    @classmethod
    def get(cls) -> Browser:
        chromium()  # first: skip (or fail) before starting anything
        if cls.browser is not None and cls.browser.is_connected():
            return cls.browser
        if cls.playwright is None:
            cls.playwright = sync_playwright().start()
            atexit.register(cls.stop)
        cls.browser = launch(cls.playwright)
        return cls.browser

    @classmethod
    def stop(cls) -> None:
        browser, cls.browser = cls.browser, None
        playwright, cls.playwright = cls.playwright, None
        if browser is not None and browser.is_connected():
            browser.close()
        if playwright is not None:
            playwright.stop()


def shared_browser() -> Browser:
    """
    This process's Chromium (launched at the first call).
    """
    return _Shared.get()


class Host(Protocol):
    """
    What the helpers need of a test case (L{SynchronousTestCase} has it;
    so does C{tools/screenshots.py}'s stand-in).
    """

    def addCleanup(self, f: Callable[[], object]) -> None: ...

    def mktemp(self) -> str: ...


class _Lines:
    """
    The lines a pipe or socket delivers, collected by a reader thread or by
    the waiter itself, with bounded waits for a line that matches.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: list[str] = []
        self.closed = False
        self.cursor = 0
        self._cond = threading.Condition(threading.RLock())

    def add(self, line: str) -> None:
        with self._cond:
            self.lines.append(line)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def describe(self) -> str:
        state = "closed" if self.closed else "open"
        return f"{self.label} ({state}), last lines: {self.lines[-8:]!r}"

    def find(self, predicate: Callable[[str], bool]) -> str | None:
        """
        The first unread line satisfying C{predicate}, if one has come; it
        and the lines before it become read.
        """
        with self._cond:
            while self.cursor < len(self.lines):
                line = self.lines[self.cursor]
                self.cursor += 1
                if predicate(line):
                    return line
            return None

    def wait_for(
        self, predicate: Callable[[str], bool], what: str, timeout: float = TIMEOUT
    ) -> str:
        """
        The first unread line satisfying C{predicate}, once it has come.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.find(predicate)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    raise AssertionError(
                        f"no {what} within {timeout} s; {self.describe()}"
                    )
                self._cond.wait(remaining)


def _pump(stream: IO[bytes], into: _Lines) -> None:
    partial = b""
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        parts = re.split(rb"\r\n|\n", partial + chunk)
        partial = parts.pop()
        for part in parts:
            into.add(part.decode("utf-8", "replace"))
    if partial:
        into.add(partial.decode("utf-8", "replace"))
    into.close()


def _read_in_thread(stream: IO[bytes], into: _Lines) -> threading.Thread:
    thread = threading.Thread(target=_pump, args=(stream, into), daemon=True)
    thread.start()
    return thread


@dataclass
class Server:
    """
    A running C{twistd chat} with the line door and the web door on
    127.0.0.1.
    """

    process: subprocess.Popen[bytes]
    log: _Lines
    directory: str
    database: str
    line_port: int = 0
    web_port: int = 0
    _reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """
        The page's address.
        """
        return f"http://127.0.0.1:{self.web_port}/"

    def text(self) -> str:
        return "\n".join(self.log.lines)

    def stop(self) -> None:
        """
        SIGTERM the server and wait (bounded) until it exits.

        @raise AssertionError: if it did not exit cleanly or logged a
            traceback: either is a server bug.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(TIMEOUT)
            raise AssertionError(
                f"the server ignored SIGTERM for {TIMEOUT} s; log:\n{self.text()}"
            ) from None
        if self._reader is not None:
            self._reader.join(TIMEOUT)
        if code not in (0, -signal.SIGTERM):
            raise AssertionError(f"the server exited with {code}; log:\n{self.text()}")
        log = self.text()
        if "Traceback" in log or "Unhandled" in log:
            raise AssertionError(f"the server logged an error; log:\n{log}")


def start_server(
    case: Host,
    *options: str,
    database: str | None = None,
    line_port: int = 0,
    web_port: int = 0,
) -> Server:
    """
    Start the installed C{twistd chat} with the web door in a fresh
    directory, as a user does, on the given loopback ports (0: any), with
    loopback exempt from the per-address limits (browsers reconnect);
    C{case} stops it in its cleanup.

    @param database: the SQLite file (default: a new one in the directory).
    """
    stale = stale_install()
    if stale:
        raise AssertionError(
            f"the installed chat differs from chat/ in {', '.join(stale)}: "
            "run make install (make test does)"
        )
    directory = os.path.abspath(case.mktemp())
    os.makedirs(directory)
    if database is None:
        database = os.path.join(directory, "chat.sqlite")
    args = [TWISTD, "--nodaemon", "--pidfile=", "--logfile=-", "chat"]
    args += ["--listen", f"tcp:{line_port}:interface=127.0.0.1"]
    args += ["--web", f"tcp:{web_port}:interface=127.0.0.1"]
    args += ["--database", database, *EXEMPT_LOOPBACK, *options]
    process = subprocess.Popen(
        args,
        cwd=directory,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    log = _Lines("the server")
    server = Server(process, log, directory, database)
    server._reader = _read_in_thread(process.stdout, log)
    try:
        match = _LINE_PORT.search(
            log.wait_for(lambda s: bool(_LINE_PORT.search(s)), "line door port")
        )
        assert match is not None
        server.line_port = int(match.group(1))
        log.cursor = 0
        match = _WEB_PORT.search(
            log.wait_for(lambda s: bool(_WEB_PORT.search(s)), "web door address")
        )
        assert match is not None
        server.web_port = int(match.group(1))
    except BaseException:
        process.kill()
        process.wait(TIMEOUT)
        raise
    case.addCleanup(server.stop)
    return server


class LineUser:
    """
    An C{nc} user: a blocking loopback socket with a timeout, text mode.
    """

    def __init__(self, case: Host, port: int, name: str) -> None:
        self.name = name
        self.received = _Lines(f"nc user {name}")
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        case.addCleanup(self.close)
        self._partial = b""

    def _read(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            self.received.close()
            return
        parts = _LINE_END.split((self._partial + data).decode("utf-8", "replace"))
        self._partial = parts.pop().encode("utf-8")
        for part in parts:
            self.received.add(part)

    def expect(
        self, match: str | Callable[[str], bool], timeout: float = TIMEOUT
    ) -> str:
        """
        The first unread line containing C{match} (or satisfying it); it
        and the lines before it become read.
        """
        predicate = (lambda line: match in line) if isinstance(match, str) else match
        deadline = time.monotonic() + timeout
        while True:
            found = self.received.find(predicate)
            if found is not None:
                return found
            if self.received.closed or time.monotonic() >= deadline:
                raise AssertionError(
                    f"no line like {match!r} within {timeout} s; "
                    f"{self.received.describe()}"
                )
            self._read(deadline)

    def send_line(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def log_in(self) -> None:
        """
        Answer the name prompt and wait for the welcome.
        """
        self.expect("name")
        self.send_line(self.name)
        self.expect("* Hello")

    def barrier(self) -> list[str]:
        """
        Ask for C{/users} and read up to its answer: everything the server
        sent before it has been received. The lines read, answer excluded.
        """
        start = self.received.cursor
        self.send_line("/users")
        self.expect("* Online (")
        return self.received.lines[start : self.received.cursor - 1]

    def close(self) -> None:
        self.sock.close()


def log_in_line(case: Host, server: Server, name: str) -> LineUser:
    """
    An C{nc} user called C{name}, logged in.
    """
    user = LineUser(case, server.line_port, name)
    user.log_in()
    return user


class ChatClient:
    """
    C{chat-client} in its scriptable mode (stdin a pipe).
    """

    def __init__(self, case: Host, server: Server, name: str, *args: str) -> None:
        self.out = _Lines(f"chat-client {name} stdout")
        self.err = _Lines(f"chat-client {name} stderr")
        self.process = subprocess.Popen(
            [CHAT_CLIENT, "--name", name, *args, "127.0.0.1", str(server.line_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        _read_in_thread(self.process.stdout, self.out)
        _read_in_thread(self.process.stderr, self.err)
        case.addCleanup(self.kill)

    def send_line(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode("utf-8") + b"\n")
        self.process.stdin.flush()

    def expect_out(self, text: str, timeout: float = TIMEOUT) -> str:
        return self.out.wait_for(lambda line: text in line, repr(text), timeout)

    def expect_err(self, text: str, timeout: float = TIMEOUT) -> str:
        return self.err.wait_for(lambda line: text in line, repr(text), timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def conversation(page: Page, key: str) -> Locator:
    """
    The sidebar button of conversation C{key} (C{ALL}, C{#room}, C{@name}).
    """
    return page.locator(
        f'nav#conversations button.conversation[data-conversation="{key}"]'
    )


def line(page: Page, text: str) -> Locator:
    """
    The lines shown in C{#messages} whose text contains C{text}.
    """
    return page.locator("#messages .line", has_text=text)


class WebUser:
    """
    A browser user: a fresh context (its own storage) and page of the
    shared Chromium, which fails the test if the page raises an uncaught
    exception, breaks its Content-Security-Policy or opens an alert.
    """

    def __init__(
        self,
        case: Host,
        server: Server,
        name: str,
        *,
        viewport: tuple[int, int] = DESKTOP,
        color_scheme: str = "light",
    ) -> None:
        self.case = case
        self.server = server
        self.name = name
        self.problems: list[str] = []
        #: Answers to give to C{window.prompt}, in order (a button may ask).
        self.prompt_answers: list[str] = []
        width, height = viewport
        self.context: BrowserContext = shared_browser().new_context(
            viewport={"width": width, "height": height},
            color_scheme="dark" if color_scheme == "dark" else "light",
            accept_downloads=True,
            timezone_id="UTC",
            locale="en-GB",
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        case.addCleanup(self.close)
        self.page: Page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.on(
            "pageerror", lambda error: self.problems.append(f"uncaught: {error}")
        )
        self.page.on("console", self._console)

    def _dialog(self, dialog: Dialog) -> None:
        if dialog.type == "prompt" and self.prompt_answers:
            dialog.accept(self.prompt_answers.pop(0))
            return
        self.problems.append(f"unexpected {dialog.type} dialog: {dialog.message!r}")
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in (
            message.text
        ):
            self.problems.append(f"CSP violation: {message.text}")

    def close(self) -> None:
        self.context.close()
        if self.problems:
            raise AssertionError(f"{self.name}'s page: {self.problems}")

    def log_in(self, password: str | None = None) -> None:
        """
        Open the page, give the name (and the password when asked) and wait
        until the chat is shown.
        """
        self.page.goto(self.server.url)
        self.submit_login(password)
        expect(self.page.locator("main#chat")).to_be_visible()
        expect(self.page.locator("form#login")).to_be_hidden()

    def submit_login(self, password: str | None = None) -> None:
        """
        Fill the login form with the name (and C{password}, once the page
        asks for it) and submit it.
        """
        page = self.page
        expect(page.locator("form#login")).to_be_visible()
        page.fill("#login-name", self.name)
        page.click("form#login button[type=submit]")
        if password is not None:
            expect(page.locator("#login-password")).to_be_visible()
            page.fill("#login-password", password)
            page.click("form#login button[type=submit]")

    def say(self, text: str) -> None:
        """
        Type C{text} into the composer and press Enter.
        """
        composer = self.page.locator("#input")
        composer.fill(text)
        composer.press("Enter")
        expect(composer).to_have_value("")

    def open(self, key: str) -> None:
        """
        Open conversation C{key} from the sidebar.
        """
        button = conversation(self.page, key)
        button.click()
        expect(button).to_have_attribute("aria-current", "true")

    def line(self, text: str) -> Locator:
        return line(self.page, text)

    def expect_line(self, text: str, sender: str | None = None) -> Locator:
        """
        The one line containing C{text} in the open conversation, once it
        is shown (exactly once), from C{sender} if given.
        """
        found = self.line(text)
        expect(found).to_have_count(1)
        if sender is not None:
            expect(found.locator(".sender")).to_contain_text(sender)
        return found

    def data_ids(self) -> list[str]:
        """
        The C{data-id} of every line shown, duplicates included.
        """
        ids: list[str] = self.page.eval_on_selector_all(
            "#messages .line[data-id]", "lines => lines.map(l => l.dataset.id)"
        )
        return ids


def duplicates(values: Sequence[str]) -> list[str]:
    """
    The values that occur more than once.
    """
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated


def scene(case: Host, server: Server) -> WebUser:
    """
    A small, realistic chat, seen by alice (a browser user): bob (another
    browser), carol (C{nc}), a room with a topic and members, a mention, a
    private conversation with a file offer in it, unread lines in ALL. The
    screenshots show it and the contrast checks go over it.

    @return: alice, with C{#garden} open.
    """
    carol = log_in_line(case, server, "carol")
    bob = WebUser(case, server, "bob")
    bob.log_in()
    alice = WebUser(case, server, "alice")
    alice.log_in()
    carol.send_line("Morning all! Spare seedlings are on the table by the shed.")
    alice.expect_line("Spare seedlings", "carol")
    bob.say("/me waves from the allotment")
    alice.expect_line("waves from the allotment")
    alice.say("Hi both! Is anyone around on Saturday?")
    for user in (bob, alice):
        user.say("/join #garden")
        expect(conversation(user.page, "#garden")).to_be_visible()
    carol.send_line("/join #garden")
    carol.expect("* You joined #garden")
    bob.say("/topic #garden Seed swaps, the watering rota and harvest news")
    bob.open("#garden")
    alice.open("#garden")
    expect(alice.page.locator("#topic")).to_contain_text("watering rota")
    bob.say("The first tomatoes are ripening, finally.")
    alice.expect_line("first tomatoes", "bob")
    carol.send_line("#garden*alice: could you water on Thursday? I'm away.")
    alice.expect_line("water on Thursday", "carol")
    alice.say("Sure, Thursday evening works for me.")
    bob.expect_line("Thursday evening", "alice")
    carol.send_line(
        "#garden*Thanks! The rota is on the shed door: https://example.org/rota"
    )
    alice.expect_line("on the shed door", "carol")
    bob.say("I'll swap Tuesday with anyone who needs it.")
    alice.expect_line("swap Tuesday", "bob")
    bob.say("/dm alice I'll bring the seed catalogue tomorrow.")
    expect(conversation(bob.page, "@alice")).to_be_visible()
    bob.open("@alice")
    directory = os.path.abspath(case.mktemp())
    os.makedirs(directory)
    rota = os.path.join(directory, "watering-rota.pdf")
    with open(rota, "wb") as f:
        f.write(b"%PDF-1.4\n" + bytes(range(256)) * 180)
    bob.page.set_input_files("#file-input", rota)
    carol.send_line("Who has spare bean poles?")
    alice_private = conversation(alice.page, "@bob")
    expect(alice_private.locator(".unread")).not_to_be_empty()
    expect(conversation(alice.page, "ALL").locator(".unread")).to_have_text("1")
    return alice

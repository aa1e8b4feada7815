"""
Tests for L{chat.client.tui}: what a person sees on an 80x24 screen and
what their keys do, with a fake session, a L{Clock} (a
L{MemoryReactorClock} where urwid's main loop runs) and no terminal.
"""

from __future__ import annotations

import io
import os
import stat
import zlib
from collections.abc import Callable, Hashable
from datetime import UTC, timedelta, timezone
from typing import Any

import urwid

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from chat.client.format import CLIENT_HELP, plain
from chat.client.rooms import Rooms
from chat.client.session import Said, Status, classify, masked
from chat.client.tui import (
    MAX_LINES,
    REDRAW_INTERVAL,
    SENDER_COLOURS,
    TUIView,
    sender_attr,
)
from chat.lines.commands import COMMANDS

SIZE = (80, 24)
# 2026-11-21T15:43:16Z, for the client's own lines.
NOW = 1795275796.0


class FakeSession:
    """
    The parts of L{chat.client.session.ClientSession} the view uses,
    recording what it is told.
    """

    def __init__(self, view: TUIView, *users: str) -> None:
        self.view = view
        self.users: set[str] = set(users)
        self.rooms = Rooms()
        self.status = Status(server="localhost:55555", tls=False)
        self.lines: list[str] = []
        self.names: list[str] = []
        self.passwords: list[str] = []
        self.quits = 0
        self.opened: list[str] = []

    def input_line(self, line: str) -> None:
        """
        Record the line and, like the real session, tell the view what was
        said.
        """
        self.lines.append(line)
        hidden = masked(line)
        if hidden is not None:
            self.view.said(Said("command", hidden))
            return
        said = classify(line)
        if said is not None and said.text:
            self.view.said(said)

    def submit_name(self, name: str) -> None:
        self.names.append(name)

    def submit_password(self, password: str) -> None:
        self.passwords.append(password)

    def opened_private(self, name: str) -> None:
        self.opened.append(name)

    def quit(self, reason: str = "") -> None:
        self.quits += 1


class FakeScreen(urwid.BaseScreen):
    """
    A screen that records what is drawn and lets tests type keys through
    the real L{urwid.MainLoop}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[list[str]] = []
        self.feed: Callable[[list[str], list[int]], Any] | None = None

    def hook_event_loop(
        self, event_loop: urwid.EventLoop, callback: Callable[..., Any]
    ) -> None:
        self.feed = callback

    def unhook_event_loop(self, event_loop: urwid.EventLoop) -> None:
        self.feed = None

    def get_cols_rows(self) -> tuple[int, int]:
        return SIZE

    def draw_screen(self, size: tuple[int, int], canvas: urwid.Canvas) -> None:
        self.frames.append([line.decode("utf-8") for line in canvas.text])

    def type(self, *keys: str) -> None:
        assert self.feed is not None, "the screen is not hooked to a loop"
        self.feed(list(keys), [])


def message(
    sender: str, text: str, kind: str = "message", **extra: Any
) -> dict[str, Any]:
    """
    A JSON event as the server sends it.
    """
    return {
        "type": kind,
        "time": "2026-11-21T15:43:16.123Z",
        "from": sender,
        "text": text,
        **extra,
    }


class ViewTestCase(SynchronousTestCase):
    """
    A view on a clock at L{NOW}, showing UTC, with a fake session.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.view = TUIView(self.clock, tz=UTC)
        self.session = FakeSession(self.view, "bob", "carol", "bobby")
        self.view.session = self.session

    def screen(self, size: tuple[int, int] = SIZE) -> list[str]:
        """
        The screen's rows, trailing blanks removed.
        """
        canvas = self.view.widget.render(size, focus=True)
        return [line.decode("utf-8").rstrip() for line in canvas.text]

    def scrollback(self) -> list[str]:
        """
        The scrollback's rows on screen, from the first that is not blank
        (a short conversation sits at the bottom, above the footer).
        """
        footer = self.view._footer.rows((SIZE[0],), True)
        rows = self.screen()[: SIZE[1] - footer]
        while rows and not rows[0]:
            del rows[0]
        return rows

    def attrs_of(self, row_text: str, fragment: str) -> set[Hashable]:
        """
        The display attributes of C{fragment} on the first row containing
        C{row_text}.
        """
        canvas = self.view.widget.render(SIZE, focus=True)
        for row in canvas.content():
            text = b"".join(chunk for _, _, chunk in row).decode("utf-8")
            if row_text not in text:
                continue
            start = text.index(fragment)
            attrs: set[Hashable] = set()
            column = 0
            for attr, _, chunk in row:
                width = len(chunk.decode("utf-8"))
                if column < start + len(fragment) and start < column + width:
                    # The innermost layer is the colour shown.
                    if isinstance(attr, urwid.LayeredAttr):
                        attr = attr.layers[0]
                    attrs.add(attr)
                column += width
            return attrs
        self.fail(f"{row_text!r} not on screen:\n" + "\n".join(self.screen()))

    def status_line(self, size: tuple[int, int] = SIZE) -> str:
        return self.screen(size)[-2].strip()

    def input_line(self) -> str:
        return self.screen()[-1]

    def type(self, text: str) -> None:
        for char in text:
            self.assertIsNone(self.view.keypress(SIZE, char))

    def press(self, *keys: str) -> None:
        for key in keys:
            self.view.keypress(SIZE, key)


class ScrollbackTests(ViewTestCase):
    """
    How events look in the scrollback.
    """

    def test_message(self) -> None:
        """
        A message shows as C{HH:MM:SS sender: text}.
        """
        self.view.show(message("bob", "hello there"))
        self.assertIn("15:43:16 bob: hello there", self.screen())

    def test_local_time(self) -> None:
        """
        The event's UTC time is shown in the view's zone.
        """
        view = TUIView(self.clock, tz=timezone(timedelta(hours=2)))
        view.show(message("bob", "hi"))
        rows = [row.decode().rstrip() for row in view.widget.render(SIZE).text]
        self.assertIn("17:43:16 bob: hi", rows)

    def test_sender_colour(self) -> None:
        """
        A sender's name has a colour derived from a CRC of the folded name,
        the same in every run and for every spelling.
        """
        expected = f"sender {zlib.crc32(b'bob') % len(SENDER_COLOURS)}"
        self.assertEqual(sender_attr("bob"), expected)
        self.assertEqual(sender_attr("BOB"), expected)
        self.view.show(message("bob", "hi"))
        self.assertEqual(self.attrs_of("bob: hi", "bob"), {expected})
        self.assertEqual(self.attrs_of("bob: hi", "15:43:16"), {"time"})

    def test_private(self) -> None:
        """
        A private message is marked C{[private]} in the private colour.
        """
        self.view.show(message("bob", "psst", "private", to="alice"))
        self.assertIn("15:43:16 [private] bob: psst", self.screen())
        self.assertEqual(self.attrs_of("psst", "[private]"), {"private"})
        self.assertEqual(self.attrs_of("psst", ": psst"), {"private text"})

    def test_action(self) -> None:
        """
        An action reads C{* sender text}.
        """
        self.view.show(message("bob", "waves", "action"))
        self.assertIn("15:43:16 * bob waves", self.screen())

    def test_server_event(self) -> None:
        """
        Other events are rendered as the scriptable client prints them; ones
        that show nothing add no line.
        """
        self.view.show(
            {"type": "join", "time": "2026-11-21T15:43:16Z", "from": None, "name": "d"}
        )
        self.view.show({"type": "mode", "time": "2026-11-21T15:43:17Z", "mode": "json"})
        self.assertEqual(self.scrollback(), ["15:43:16 * d joined"])
        self.assertEqual(self.attrs_of("d joined", "d joined"), {"notice"})

    def test_error(self) -> None:
        """
        An error is shown in red, stamped with the current time.
        """
        self.view.error("ERROR: carol is not online; /users lists who is.")
        self.assertIn(
            "15:43:16 ERROR: carol is not online; /users lists who is.", self.screen()
        )
        self.assertEqual(self.attrs_of("ERROR", "ERROR"), {"error"})

    def test_notice(self) -> None:
        """
        The client's own notices are dimmed.
        """
        self.view.notice("connection lost; reconnecting")
        self.assertIn("15:43:16 * connection lost; reconnecting", self.screen())
        self.assertEqual(self.attrs_of("connection lost", "connection"), {"notice"})

    def test_shifted(self) -> None:
        """
        A message the shift cipher undid carries a small marker.
        """
        self.view.show(message("bob", "hello", shifted=True))
        self.assertIn("15:43:16 [shift] bob: hello", self.screen())

    def test_control_characters(self) -> None:
        """
        Control characters from the network are shown, not sent to the
        terminal.
        """
        self.view.show(message("bob", "\x1b[2Jgone\tnot"))
        self.assertIn("15:43:16 bob: ^[[2Jgone not", self.screen())

    def test_bounded(self) -> None:
        """
        Only the newest C{max_lines} entries are kept.
        """
        view = TUIView(self.clock, tz=UTC, max_lines=10)
        for i in range(25):
            view.notice(f"line {i}")
        rows = [row.decode().rstrip() for row in view.widget.render(SIZE).text]
        # At the bottom of the 22 rows above the status line.
        self.assertEqual(rows[11], "")
        self.assertEqual(rows[12], "15:43:16 * line 15")
        self.assertEqual(rows[21], "15:43:16 * line 24")
        self.assertEqual(MAX_LINES, 5000)


class StatusLineTests(ViewTestCase):
    """
    The status line above the input line.
    """

    def test_initial(self) -> None:
        """
        Setting the session shows its server before anything is connected.
        """
        self.assertEqual(
            self.status_line(),
            "localhost:55555 | (no name) | plain | connecting | ? online",
        )
        self.assertEqual(self.attrs_of("(no name)", "connecting"), {"status alert"})

    def test_connected(self) -> None:
        """
        Server, name, TLS, connection state and users online are shown.
        """
        self.view.status_changed(
            Status(
                server="chat.example:55556",
                tls=True,
                connected=True,
                name="alice",
                users=3,
            )
        )
        self.assertEqual(
            self.status_line(),
            "chat.example:55556 | alice | TLS | connected | 3 online",
        )
        self.assertEqual(self.attrs_of("alice", "connected"), {"status"})

    def test_reconnecting(self) -> None:
        """
        A lost connection reads C{reconnecting}, and the count of users
        online is marked stale (it is the last connection's) until the
        connection is back.
        """
        status = Status(server="h:1", tls=False, connected=True, name="a", users=2)
        self.view.status_changed(status)
        self.view.status_changed(Status(server="h:1", tls=False, name="a", users=2))
        self.assertEqual(
            self.status_line(), "h:1 | a | plain | reconnecting | 2 online (stale)"
        )
        self.assertEqual(self.attrs_of("reconnecting", "(stale)"), {"status alert"})
        self.view.status_changed(status)
        self.assertEqual(self.status_line(), "h:1 | a | plain | connected | 2 online")


class InputTests(ViewTestCase):
    """
    The input line and its keys.
    """

    def test_enter_sends(self) -> None:
        """
        Enter hands the typed line to the session, clears the input line and
        echoes the message (the server does not send it back).
        """
        self.view.status_changed(Status(server="h:1", tls=False, name="alice"))
        self.type("hello all")
        self.assertEqual(self.input_line(), "> hello all")
        self.press("enter")
        self.assertEqual(self.session.lines, ["hello all"])
        self.assertEqual(self.input_line(), ">")
        self.assertIn("15:43:16 alice: hello all", self.screen())

    def test_private_echo(self) -> None:
        """
        A private message sent is echoed marked with its recipient, as
        being sent until the server answers it: delivered, refused, or
        never (the connection was lost), oldest first; other events do not
        settle it.
        """
        self.view.status_changed(Status(server="h:1", tls=False, name="alice"))
        for line in ("bob*psst", "/dm carol hi", "dave*yo"):
            self.type(line)
            self.press("enter")
        self.view.show(message("dave", "later"))
        self.view.error("ERROR: usage: /send NAME|#room PATH")  # not an answer
        self.assertIn("15:43:16 [sending] [private to bob] alice: psst", self.screen())
        self.view.answered(True)
        self.view.answered(False)
        self.view.answered(None)
        screen = self.screen()
        self.assertIn("15:43:16 [private to bob] alice: psst", screen)
        self.assertIn("15:43:16 [not sent] [private to carol] alice: hi", screen)
        self.assertIn("15:43:16 [unconfirmed] [private to dave] alice: yo", screen)

    def test_commands_not_echoed(self) -> None:
        """
        Commands are sent but not echoed as messages.
        """
        self.type("/users")
        self.press("enter")
        self.assertEqual(self.session.lines, ["/users"])
        self.assertEqual(self.scrollback(), [])

    def test_empty_enter(self) -> None:
        """
        Enter on an empty (or blank) line sends nothing.
        """
        self.press("enter")
        self.type("  ")
        self.press("enter")
        self.assertEqual(self.session.lines, [])

    def test_name_prompt(self) -> None:
        """
        After L{TUIView.ask_name} the input line asks for a name, and Enter
        answers with L{submit_name}.
        """
        self.view.ask_name()
        self.assertEqual(self.input_line(), "Name:")
        self.type("alice")
        self.press("enter")
        self.assertEqual(self.session.names, ["alice"])
        self.assertEqual(self.session.lines, [])
        self.assertEqual(self.input_line(), ">")
        self.type("hi")
        self.press("enter")
        self.assertEqual(self.session.lines, ["hi"])

    def test_history(self) -> None:
        """
        Up recalls earlier lines, Down comes back to the unsent draft.
        """
        for line in ("one", "two"):
            self.type(line)
            self.press("enter")
        self.type("dra")
        self.press("up")
        self.assertEqual(self.input_line(), "> two")
        self.press("up")
        self.assertEqual(self.input_line(), "> one")
        self.press("up")
        self.assertEqual(self.input_line(), "> one")
        self.press("down")
        self.assertEqual(self.input_line(), "> two")
        self.press("down")
        self.assertEqual(self.input_line(), "> dra")
        self.press("up", "enter")
        self.assertEqual(self.session.lines, ["one", "two", "two"])

    def test_complete_name(self) -> None:
        """
        Tab completes the user name under the cursor.
        """
        self.type("hi ca")
        self.press("tab")
        self.type("!")
        self.assertEqual(self.input_line(), "> hi carol !")

    def test_complete_name_first(self) -> None:
        """
        A name completed as the first word is addressed privately, C{NAME*}.
        """
        self.type("CA")
        self.press("tab")
        self.type("hi")
        self.assertEqual(self.input_line(), "> carol*hi")

    def test_complete_inside_word(self) -> None:
        """
        Tab in the middle of a word completes the whole word and keeps the
        rest of the line.
        """
        self.type("hi car x")
        self.press("left", "left", "left", "tab")
        self.type("!")
        self.assertEqual(self.input_line(), "> hi carol! x")

    def test_complete_command(self) -> None:
        """
        Tab completes a command in the first word.
        """
        self.type("/us")
        self.press("tab")
        self.type("x")
        self.assertEqual(self.input_line(), "> /users x")

    def test_complete_client_command(self) -> None:
        """
        The client's own keywords complete too.
        """
        self.type("CON")
        self.press("tab")
        self.assertEqual(self.input_line(), "> CONNECT")

    def test_complete_several(self) -> None:
        """
        With several candidates Tab completes their common prefix and lists
        them once.
        """
        self.type("/dm b")
        self.press("tab")
        self.assertEqual(self.input_line(), "> /dm bob")
        self.assertEqual(self.scrollback()[0], "15:43:16 * bob bobby")
        self.press("tab")
        self.assertEqual(self.scrollback(), ["15:43:16 * bob bobby"])

    def test_complete_commands_listed(self) -> None:
        """
        Ambiguous commands are listed without changing the input.
        """
        self.type("/m")
        self.press("tab")
        self.assertEqual(self.input_line(), "> /m")
        self.assertEqual(self.scrollback()[0], "15:43:16 * /msg /me")

    def test_complete_nothing(self) -> None:
        """
        Tab with no candidate changes nothing.
        """
        self.type("hi zz")
        self.press("tab")
        self.assertEqual(self.input_line(), "> hi zz")
        self.assertEqual(self.scrollback(), [])

    def test_ctrl_d_quits(self) -> None:
        """
        Ctrl-D on an empty input line quits.
        """
        self.press("ctrl d")
        self.assertEqual(self.session.quits, 1)

    def test_ctrl_d_deletes(self) -> None:
        """
        Ctrl-D on a non-empty line deletes the character under the cursor
        instead of quitting.
        """
        self.type("abc")
        self.press("home", "ctrl d")
        self.assertEqual(self.input_line(), "> bc")
        self.assertEqual(self.session.quits, 0)


class ScrollTests(ViewTestCase):
    """
    Paging through the scrollback.
    """

    def fill(self, count: int) -> None:
        for i in range(count):
            self.view.notice(f"line {i}")

    def test_follows(self) -> None:
        """
        While the user has not scrolled, the newest line is at the bottom.
        """
        self.fill(100)
        screen = self.screen()
        self.assertEqual(screen[21], "15:43:16 * line 99")
        self.assertEqual(screen[0], "15:43:16 * line 78")

    def test_page_up_stays(self) -> None:
        """
        After PageUp new lines do not move the view, and the status line says
        how many arrived.
        """
        self.fill(100)
        self.press("page up")
        before = self.screen()[:22]
        self.assertNotIn("15:43:16 * line 99", before)
        self.view.notice("newest")
        self.view.notice("newer still")
        screen = self.screen()
        self.assertEqual(screen[:22], before)
        self.assertTrue(
            screen[-2].startswith(" scrolled up, 2 new | localhost:55555 |"),
            screen[-2],
        )
        self.assertEqual(self.attrs_of("scrolled up", "2 new"), {"status alert"})

    def test_page_down_follows_again(self) -> None:
        """
        Paging back down to the end follows new lines again.
        """
        self.fill(100)
        self.press("page up", "page up")
        self.view.notice("newest")
        self.press("page down", "page down", "page down")
        screen = self.screen()
        self.assertEqual(screen[21], "15:43:16 * newest")
        self.assertNotIn("scrolled", screen[-2])
        self.view.notice("after")
        self.assertEqual(self.screen()[21], "15:43:16 * after")


class LoopTests(SynchronousTestCase):
    """
    The view on a (fake) screen, driven by urwid's Twisted event loop.
    """

    def setUp(self) -> None:
        # A Clock that can also watch descriptors, as urwid 5.1's
        # MainLoop.start() does for call_from_thread().
        self.reactor = MemoryReactorClock()
        self.reactor.advance(NOW)
        self.screen = FakeScreen()
        self.err = io.StringIO()
        self.view = TUIView(self.reactor, screen=self.screen, tz=UTC, err=self.err)
        self.session = FakeSession(self.view)
        self.view.session = self.session
        self.codes: list[tuple[int, bool]] = []
        self.view.when_finished(
            lambda code: self.codes.append((code, self.screen.started))
        )
        self.view.start()
        self.addCleanup(self.view.finished, 0)
        self.reactor.advance(0.01)  # urwid's first paint
        self.painted = len(self.screen.frames)

    def test_twisted_event_loop(self) -> None:
        """
        The loop runs on the given reactor without running or stopping it.
        """
        assert self.view.loop is not None
        event_loop = self.view.loop.event_loop
        self.assertIsInstance(event_loop, urwid.TwistedEventLoop)
        assert isinstance(event_loop, urwid.TwistedEventLoop)
        self.assertIs(event_loop.reactor, self.reactor)
        self.assertFalse(event_loop.manage_reactor)
        self.assertTrue(self.screen.started)
        self.assertGreater(self.painted, 0)
        self.assertIn(" localhost:55555 | (no name)", self.screen.frames[-1][22])
        # Idle: no timer polls anything.  A watched descriptor (urwid 5.1's
        # socket pair for call_from_thread) costs nothing until it is written.
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        for reader in self.reactor.getReaders():
            self.assertTrue(stat.S_ISSOCK(os.fstat(reader.fileno()).st_mode))

    def test_finished_releases_reactor(self) -> None:
        """
        Once the session is over the loop leaves nothing on the reactor, and
        the descriptors urwid opened to watch are closed.
        """
        watched = [reader.fileno() for reader in self.reactor.getReaders()]
        self.view.finished(0)
        self.assertEqual(self.reactor.getReaders(), [])
        self.assertEqual(self.reactor.getWriters(), [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        for fd in watched:
            self.assertRaises(OSError, os.fstat, fd)

    def test_keys_through_loop(self) -> None:
        """
        Keys from the screen reach the input line and Enter sends it.
        """
        self.screen.type("h", "i", "enter")
        self.assertEqual(self.session.lines, ["hi"])

    def test_redraw_throttled(self) -> None:
        """
        Hundreds of events schedule a single repaint, and at most one per
        L{REDRAW_INTERVAL}; nothing is left scheduled when idle.
        """
        for i in range(300):
            self.view.show(message("bob", f"burst {i}"))
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        self.assertEqual(len(self.screen.frames), self.painted)
        self.reactor.advance(0)
        self.assertEqual(len(self.screen.frames), self.painted + 1)
        self.assertIn("15:43:16 bob: burst 299", self.screen.frames[-1][21])
        for i in range(300):
            self.view.show(message("bob", f"more {i}"))
        [call] = self.reactor.getDelayedCalls()
        self.assertAlmostEqual(call.getTime() - self.reactor.seconds(), REDRAW_INTERVAL)
        self.reactor.advance(REDRAW_INTERVAL / 2)
        self.assertEqual(len(self.screen.frames), self.painted + 1)
        self.reactor.advance(REDRAW_INTERVAL / 2)
        self.assertEqual(len(self.screen.frames), self.painted + 2)
        self.assertIn("more 299", self.screen.frames[-1][21])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_finished(self) -> None:
        """
        L{TUIView.finished} restores the terminal before calling back with
        the exit status, once.
        """
        self.view.finished(0)
        self.view.finished(1)
        self.assertEqual(self.codes, [(0, False)])
        self.assertEqual(self.err.getvalue(), "")

    def test_finished_cancels_redraw(self) -> None:
        """
        A repaint pending when the session ends is cancelled.
        """
        self.view.notice("bye")
        self.view.finished(0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_failure_repeats_errors(self) -> None:
        """
        When the session fails, its last errors are written to stderr, as
        the full screen that showed them is gone.
        """
        self.view.error("ERROR: TLS failed, not connecting without it")
        self.view.finished(1)
        self.assertEqual(
            self.err.getvalue(), "ERROR: TLS failed, not connecting without it\n"
        )
        self.assertEqual(self.codes, [(1, False)])

    def test_shutdown_restores(self) -> None:
        """
        A reactor shutting down (Ctrl-C) restores the terminal.
        """
        reactor = MemoryReactorClock()
        screen = FakeScreen()
        view = TUIView(reactor, screen=screen)
        view.start()
        [(trigger, args, kwargs)] = reactor.triggers["before"]["shutdown"]
        self.assertTrue(screen.started)
        trigger(*args, **kwargs)
        self.assertFalse(screen.started)


PROMPT_TEXT = (
    "* alice is a registered name; enter its password.\n"
    "* Warning: this connection is not encrypted, so the password travels "
    "in clear.\nPassword:"
)


class PasswordTests(ViewTestCase):
    """
    Passwords are typed without echo and kept out of the scrollback and
    the input history.
    """

    def test_prompt_masks_input(self) -> None:
        """
        The password prompt shows the server's text and warning; what is
        typed shows as C{*}, and Enter hands it to L{submit_password}
        without showing it anywhere.
        """
        self.view.ask_password("alice", True, PROMPT_TEXT)
        screen = self.scrollback()
        self.assertEqual(
            screen[0], "15:43:16 * alice is a registered name; enter its password."
        )
        self.assertTrue(screen[1].startswith("15:43:16 * Warning: this connection"))
        self.assertNotIn("Password:", "\n".join(screen[:-1]))
        self.assertEqual(self.input_line(), "Password (NOT encrypted, no TLS):")
        self.assertEqual(self.attrs_of("NOT encrypted", "Password"), {"error"})
        self.type("hunter22")
        self.assertEqual(
            self.input_line(), "Password (NOT encrypted, no TLS): ********"
        )
        self.assertNotIn("hunter22", "\n".join(self.screen()))
        self.press("enter")
        self.assertEqual(self.session.passwords, ["hunter22"])
        self.assertEqual(self.session.lines, [])
        self.assertEqual(self.session.names, [])
        self.assertEqual(self.input_line(), ">")
        self.assertNotIn("hunter22", "\n".join(self.screen()))
        self.press("up")
        self.assertEqual(self.input_line(), ">")
        self.type("hi")
        self.press("enter")
        self.assertEqual(self.session.lines, ["hi"])

    def test_secure_prompt(self) -> None:
        """
        Over TLS the caption is plain C{Password:}; without server text the
        view says why it asks.
        """
        self.view.ask_password("alice", False, "")
        self.assertEqual(self.input_line(), "Password:")
        self.assertEqual(
            self.scrollback()[0],
            "15:43:16 * alice is a registered name; enter its password.",
        )

    def test_no_recall_or_completion(self) -> None:
        """
        While a password is typed, Up, Down and Tab do nothing (no history
        replaces it, no completion lists candidates from it).
        """
        self.type("earlier")
        self.press("enter")
        self.view.ask_password("alice", False, "")
        self.type("bo")
        self.press("up", "tab", "down")
        self.assertEqual(self.input_line(), "Password: **")
        self.assertEqual(len([row for row in self.screen() if row]), 4)

    def test_draft_restored(self) -> None:
        """
        A line being typed when the prompt appears is put back afterwards,
        not sent as the password.
        """
        self.type("half a mess")
        self.view.ask_password("alice", False, "")
        self.assertEqual(self.input_line(), "Password:")
        self.type("pw123456")
        self.press("enter")
        self.assertEqual(self.session.passwords, ["pw123456"])
        self.assertEqual(self.input_line(), "> half a mess")

    def test_name_after_wrong_password(self) -> None:
        """
        A name asked for after a refused password is typed in clear again.
        """
        self.view.ask_password("alice", False, "")
        self.view.ask_name()
        self.type("alice")
        self.assertEqual(self.input_line(), "Name: alice")
        self.press("enter")
        self.assertEqual(self.session.names, ["alice"])
        self.assertEqual(self.session.passwords, [])

    def test_account_commands_masked(self) -> None:
        """
        C{/register}, C{/password} and C{/unregister} are sent as typed but
        echoed masked and not kept for recall.
        """
        self.type("hello")
        self.press("enter")
        lines = [
            "/register hunter22",
            "/password hunter22 n3w-passw0rd",
            "/unregister n3w-passw0rd",
        ]
        for line in lines:
            self.type(line)
            self.press("enter")
        self.assertEqual(self.session.lines, ["hello", *lines])
        screen = "\n".join(self.screen())
        self.assertNotIn("hunter22", screen)
        self.assertNotIn("n3w-passw0rd", screen)
        self.assertIn("15:43:16 /register ********", screen)
        self.assertIn("15:43:16 /password ******** ********", screen)
        self.assertIn("15:43:16 /unregister ********", screen)
        self.press("up")
        self.assertEqual(self.input_line(), "> hello")
        self.press("up")
        self.assertEqual(self.input_line(), "> hello")


class EarlierMessagesTests(ViewTestCase):
    """
    History and stored messages show the time they were sent and a
    marker; queued and account events are server notices.
    """

    def test_history(self) -> None:
        """
        A history entry is marked; one from another day gives its date.
        """
        self.view.show(message("bob", "earlier", history=True, room=None))
        old = {**message("bob", "waves", "action", history=True)}
        old["time"] = "2026-11-19T08:05:00Z"
        self.view.show(old)
        screen = self.scrollback()
        self.assertEqual(screen[0], "15:43:16 [history] bob: earlier")
        self.assertEqual(screen[1], "08:05:00 [history 2026-11-19] * bob waves")
        self.assertEqual(self.attrs_of("earlier", "[history]"), {"marker"})

    def test_stored(self) -> None:
        """
        A stored private message is marked C{[stored]} (with the date it
        was sent, if not today) and shown like a private message.
        """
        stored = message("bob", "psst", "private", to="alice", id=17, stored=True)
        stored["time"] = "2026-11-20T14:03:00.000Z"
        self.view.show(stored)
        self.view.show({**stored, "text": "waves", "action": True})
        today = {**stored, "time": "2026-11-21T09:00:00Z", "text": "hi"}
        self.view.show(today)
        screen = self.scrollback()
        self.assertEqual(
            screen[0], "14:03:00 [stored, sent 2026-11-20] [private] bob: psst"
        )
        self.assertEqual(
            screen[1], "14:03:00 [stored, sent 2026-11-20] [private] * bob waves"
        )
        self.assertEqual(screen[2], "09:00:00 [stored] [private] bob: hi")
        self.assertEqual(self.attrs_of("psst", ": psst"), {"private text"})

    def test_notices(self) -> None:
        """
        Queued, account, stored-end and history-end events are server
        notices.
        """
        base = {"time": "2026-11-21T15:43:16Z", "from": None}
        self.view.show({**base, "type": "queued", "to": "dave", "id": 3})
        self.view.show(
            {**base, "type": "account", "action": "registered", "name": "alice"}
        )
        self.view.show({**base, "type": "stored-end", "count": 2})
        self.view.show({**base, "type": "history-end", "count": 1})
        self.assertEqual(
            self.scrollback()[:4],
            [
                "15:43:16 * dave is offline; your message was stored for them",
                "15:43:16 * alice is now registered; it needs your password from "
                "now on",
                "15:43:16 * 2 messages were waiting for you",
                "15:43:16 * end of history (1 message)",
            ],
        )


def help_event() -> dict[str, Any]:
    """
    The server's answer to C{/help} in JSON mode, with its real commands.
    """
    return {
        "type": "help",
        "time": "2026-11-21T15:43:16.123Z",
        "from": None,
        "text": "* Commands: ...",
        "commands": [
            {
                "usage": c.usage,
                "description": c.description,
                "aliases": list(c.aliases),
            }
            for c in COMMANDS
        ],
    }


class FirstUseTests(ViewTestCase):
    """
    What confused a first-time user (issue 16): a tall block cut short, a
    short conversation at the top of the screen, C{/help}.
    """

    # The row just above the status line of an 80x24 screen.
    LAST = SIZE[1] - 3

    def test_few_lines_at_bottom(self) -> None:
        """
        A conversation with few lines sits at the bottom of the screen,
        just above the status line, as in IRC clients.
        """
        self.view.show(message("bob", "hi"))
        self.view.show(message("carol", "hello"))
        screen = self.screen()
        self.assertEqual(screen[: self.LAST - 1], [""] * (self.LAST - 1))
        self.assertEqual(
            screen[self.LAST - 1 : self.LAST + 1],
            ["15:43:16 bob: hi", "15:43:16 carol: hello"],
        )

    def test_tall_help_shown_to_its_end(self) -> None:
        """
        On a fresh screen, C{/help} (taller than the screen) is shown to its
        last line, the server's C{/quit}.
        """
        self.view.show(help_event())
        screen = self.screen()
        self.assertIn("/quit [REASON]", screen[self.LAST - 1])
        self.assertIn("say goodbye and disconnect (also", screen[self.LAST - 1])
        self.assertEqual(screen[self.LAST].strip(), "/exit)")

    def test_tall_entry_shown_to_its_end(self) -> None:
        """
        One entry taller than the screen (an older server's help text) is
        shown to its end too, and so is a block added after scrolling back
        down.
        """
        text = "\n".join(f"* line {i}" for i in range(40))
        self.view.show({**help_event(), "commands": None, "text": text})
        self.assertEqual(self.screen()[self.LAST], "* line 39")
        self.press("page up", "page down", "page down")
        self.view.show({**help_event(), "commands": None, "text": text + "\n* end"})
        self.assertEqual(self.screen()[self.LAST], "* end")

    def test_help_lists_client_first(self) -> None:
        """
        C{/help} lists chat-client's commands and keys before the server's,
        without the commands only programs need (C{/ack}, C{/mode
        json|text}).
        """
        self.view.show(help_event())
        tall = (80, 80)
        screen = self.screen(tall)
        text = "\n".join(screen)
        order = [
            "* chat-client's commands:",
            "/send NAME|#ROOM PATH",
            "/accept ID [DIRECTORY]",
            "/decline ID",
            "/cancel ID",
            "/connect [HOST [PORT]]",
            "CONNECT ",
            "SEND TEXT",
            "QUIT ",
            "/go [ALL|#ROOM|NAME|NUMBER]",
            "/close",
            "* keys:",
            "PageUp, PageDown",
            "Tab ",
            "* the server's commands:",
            "/users",
            "/mode #ROOM +i|-i",
            "/quit [REASON]",
        ]
        places = [text.find(fragment) for fragment in order]
        self.assertNotIn(-1, places, list(zip(order, places, strict=True)))
        self.assertEqual(places, sorted(places))
        self.assertNotIn("/ack", text)
        self.assertNotIn("/mode json|text", text)

    def test_help_columns(self) -> None:
        """
        Every description starts in the same column, past the longest
        usage; one too long for its column wraps within it.
        """
        self.view.show(help_event())
        screen = self.screen((80, 80))
        column = screen[[i for i, r in enumerate(screen) if "/kick" in r][0]].index(
            "put NAME out"
        )
        for usage, about in [
            ("/users", "list who is online"),
            ("/kick NAME #ROOM [REASON]", "put NAME out"),
            ("/send NAME|#ROOM PATH", "offer a file"),
            ("Ctrl-D", "quit, on an empty line"),
        ]:
            row = next(r for r in screen if usage in r)
            self.assertEqual(row.index(about), column, row)
        bm = next(i for i, r in enumerate(screen) if "/bm TEXT" in r)
        self.assertEqual(screen[bm][column:], "send TEXT to everyone (also ALL*TEXT,")
        self.assertEqual(screen[bm + 1], " " * column + "a plain line)")

    def test_plain_help(self) -> None:
        """
        A script's C{/help} lists chat-client's commands, then the server's
        without C{/ack} and C{/mode json|text}, descriptions in one column
        past the longest usage.
        """
        lines = str(plain(help_event())).splitlines()
        self.assertEqual(lines[0], "* chat-client's commands:")
        self.assertTrue(lines[1].startswith("*   /send NAME|#ROOM PATH  "), lines[1])
        server = lines.index("* the server's commands:")
        self.assertEqual(server, 1 + len(CLIENT_HELP))
        column = lines[-1].index("say goodbye")
        kick = next(line for line in lines if "/kick" in line)
        self.assertEqual(kick.index("put NAME out"), column)
        self.assertEqual(column, len("*   /kick NAME #ROOM [REASON]  "))
        text = "\n".join(lines)
        self.assertNotIn("/ack", text)
        self.assertNotIn("/mode json|text", text)
        self.assertIn("/mode #ROOM +i|-i", text)

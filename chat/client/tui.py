# -*- test-case-name: tests.test_tui -*-
"""
The full-screen front end of C{chat-client}: scrollback, status line and
an input line, drawn with urwid on Twisted's reactor.

urwid ships a L{urwid.TwistedEventLoop}, so the keyboard and the server's
socket are served by the one reactor that L{twisted.internet.task.react}
already runs: no thread, no polling.  Its widgets render to canvases without
a terminal, which is how the tests look at what a person would see.

Server events can arrive by the hundred per second, so they are only
appended to the scrollback; the screen is repainted by one delayed call at
most every L{REDRAW_INTERVAL} seconds, and none is pending while idle.
"""

from __future__ import annotations

import re
import sys
import zlib
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol, TextIO, cast

import urwid

from twisted.internet.interfaces import IDelayedCall, IReactorCore, IReactorTime
from twisted.logger import Logger

from chat.client.format import plain, when
from chat.client.session import (
    CLIENT_COMMANDS,
    SERVER_COMMANDS,
    Said,
    Status,
    masked,
)

# Entries kept in the scrollback; older ones are dropped.
MAX_LINES = 5000
# Lines typed, kept for Up/Down recall.
MAX_HISTORY = 1000
# Seconds between two repaints caused by server events, at least.
REDRAW_INTERVAL = 0.05
# Candidates listed in one completion notice, at most.
MAX_CANDIDATES_SHOWN = 30
# Errors repeated on stderr when the session ends badly, at most.
MAX_ERRORS_KEPT = 5

PROMPT = "> "
NAME_PROMPT = "Name: "
PASSWORD_PROMPT = "Password: "
IN_CLEAR_PROMPT = "Password (NOT encrypted, no TLS): "

# Sender colours, picked by a CRC of the folded name so that a person keeps
# the same colour across runs and clients (Python's hash() is salted).
# Red is left for errors and yellow for private messages.
SENDER_COLOURS = (
    "light green",
    "light blue",
    "light cyan",
    "light magenta",
    "dark green",
    "dark cyan",
    "dark magenta",
    "white",
)

PALETTE: list[tuple[str, str, str]] = [
    ("time", "dark gray", "default"),
    ("text", "default", "default"),
    ("server", "default", "default"),
    ("notice", "dark gray", "default"),
    ("error", "light red,bold", "default"),
    ("private", "yellow,bold", "default"),
    ("private text", "yellow", "default"),
    ("shifted", "dark gray", "default"),
    ("marker", "dark gray", "default"),
    ("status", "black", "light gray"),
    ("status alert", "white,bold", "dark red"),
    *[(f"sender {i}", colour, "default") for i, colour in enumerate(SENDER_COLOURS)],
]

# Characters that would reach the terminal as controls (escape sequences
# from a hostile peer, say); shown as ^X or U+FFFD instead.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")

_COMMANDS = SERVER_COMMANDS + CLIENT_COMMANDS

_Markup = list[tuple[str, str] | str]
_Frame = urwid.Frame[urwid.ListBox[int], None, urwid.Pile]


def _visible(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        char = match.group()
        if char == "\t":
            return " "
        if char < " ":
            return "^" + chr(ord(char) + 64)
        return "\N{REPLACEMENT CHARACTER}"

    return _CONTROL.sub(replace, text)


def sender_attr(name: str) -> str:
    """
    The palette entry for C{name}'s colour: the same for every run, and for
    every spelling of the name (names are case-insensitive).
    """
    index = zlib.crc32(name.casefold().encode("utf-8")) % len(SENDER_COLOURS)
    return f"sender {index}"


class SessionLike(Protocol):
    """
    What the view needs from a L{chat.client.session.ClientSession}; tests
    supply a small fake.
    """

    users: set[str]

    @property
    def status(self) -> Status: ...

    def input_line(self, line: str) -> None: ...

    def submit_name(self, name: str) -> None: ...

    def submit_password(self, password: str) -> None: ...

    def quit(self, reason: str = "") -> None: ...


class _Top(urwid.WidgetWrap[_Frame]):
    """
    The top widget: sees every key before the input line does, so the
    view's own keys (Enter, history, completion, scrolling) do not depend
    on what urwid's L{urwid.Edit} happens to leave unhandled.
    """

    def __init__(
        self, frame: _Frame, handler: Callable[[tuple[int, int], str], bool]
    ) -> None:
        super().__init__(frame)
        self._handler = handler

    def keypress(
        self, size: tuple[()] | tuple[int] | tuple[int, int], key: str
    ) -> str | None:
        if len(size) == 2 and self._handler(size, key):
            return None
        return super().keypress(size, key)


class TUIView:
    """
    An L{chat.client.session.IClientView} on a terminal.

    The widget tree is built by the constructor and can be rendered and fed
    keys without a terminal; L{start} puts it on the screen.

    @ivar widget: the top widget (what L{urwid.MainLoop} shows).
    @ivar loop: the L{urwid.MainLoop}, once L{start} has been called.
    """

    _log = Logger()

    def __init__(
        self,
        reactor: IReactorTime,
        *,
        screen: urwid.BaseScreen | None = None,
        tz: tzinfo | None = None,
        max_lines: int = MAX_LINES,
        err: TextIO | None = None,
    ) -> None:
        """
        @param reactor: runs the screen and the repaint timer; a
            L{twisted.internet.task.Clock} in tests.
        @param screen: the urwid screen; the terminal if C{None}.
        @param tz: zone of the timestamps shown; local time if C{None}.
        @param max_lines: scrollback entries kept.
        @param err: where the last errors are repeated after a failed session
            (the full screen is gone by then); C{sys.stderr} if C{None}.
        """
        self._reactor = reactor
        self._screen = screen
        self._tz = tz
        self._max_lines = max_lines
        self._err = err
        self._session: SessionLike | None = None
        self._status: Status | None = None
        self._was_connected = False
        self._asking_name = False
        self._asking_password = False
        self._following = True
        self._unseen = 0
        self._history: list[str] = []
        self._history_index = 0
        self._draft = ""
        self._last_candidates: list[str] = []
        self._errors: deque[str] = deque(maxlen=MAX_ERRORS_KEPT)
        self._on_finished: list[Callable[[int], object]] = []
        self._finished = False
        self._redraw_call: IDelayedCall | None = None
        self._last_redraw = float("-inf")
        self.loop: urwid.MainLoop | None = None

        self._walker: urwid.SimpleFocusListWalker[urwid.Text] = (
            urwid.SimpleFocusListWalker([])
        )
        self._listbox = urwid.ListBox(self._walker)
        self._status_text = urwid.Text("", wrap="clip")
        self._edit = urwid.Edit(PROMPT)
        self._footer = urwid.Pile(
            [urwid.AttrMap(self._status_text, "status"), self._edit],
            focus_item=1,
        )
        frame: _Frame = urwid.Frame(
            self._listbox, footer=self._footer, focus_part="footer"
        )
        self.widget = _Top(frame, self._handle_key)
        self._render_status()

    # Wiring.

    @property
    def session(self) -> SessionLike | None:
        """
        The session this view reports to; setting it shows its status.
        """
        return self._session

    @session.setter
    def session(self, session: SessionLike | None) -> None:
        self._session = session
        if session is not None:
            self.status_changed(session.status)

    def when_finished(self, callback: Callable[[int], object]) -> None:
        """
        Call C{callback} with the exit status once the session is over and
        the terminal is restored.
        """
        self._on_finished.append(callback)

    def start(self) -> None:
        """
        Take over the terminal.  The reactor is already running (or about to
        be), so the loop is started, not run.
        """
        if self.loop is not None or self._finished:
            return
        event_loop = urwid.TwistedEventLoop(
            reactor=cast(Any, self._reactor), manage_reactor=False
        )
        self.loop = urwid.MainLoop(
            self.widget,
            PALETTE,
            screen=self._screen,
            event_loop=event_loop,
            unhandled_input=self._unhandled_input,
            # Leave the mouse to the terminal, so text can be selected.
            handle_mouse=False,
        )
        self.loop.start()
        if IReactorCore.providedBy(self._reactor):
            # Ctrl-C stops the reactor without finished(); put the terminal
            # back anyway.  Left registered: stopping twice does nothing.
            core = cast(IReactorCore, self._reactor)
            core.addSystemEventTrigger("before", "shutdown", self._stop_screen)

    # IClientView.

    def show(self, event: dict[str, Any]) -> None:
        """
        Add a server event to the scrollback.
        """
        markup = self._event_markup(event)
        if markup is not None:
            self._append(self._stamp(event.get("time")) + markup)

    def notice(self, text: str) -> None:
        """
        Add something the client says, dimmed.
        """
        self._append(self._stamp(None) + [("notice", f"* {_visible(text)}")])

    def error(self, text: str) -> None:
        """
        Add an error, in red; the last few are kept for L{finished}.
        """
        self._errors.append(text)
        self._append(self._stamp(None) + [("error", _visible(text))])

    def ask_name(self) -> None:
        """
        Make the next Enter answer the name question.
        """
        self._end_password(restore=False)
        self._asking_name = True
        self._edit.set_caption(NAME_PROMPT)
        self._changed()

    def ask_password(self, name: str, insecure: bool, text: str) -> None:
        """
        Show the server's prompt (with its warning when C{insecure}) and
        make the next Enter answer it: the input line shows C{*} for each
        character, and the answer goes to neither the scrollback nor the
        input history.  What was being typed is put back afterwards.
        """
        lines = [line for line in text.splitlines() if line.strip()]
        if lines and lines[-1].strip().rstrip(":") == PASSWORD_PROMPT.strip(": "):
            del lines[-1]  # the input line's caption says it
        if not lines:
            lines = [f"* {name} is a registered name; enter its password."]
        for line in lines:
            self._append(self._stamp(None) + [("server", _visible(line))])
        if not self._asking_password:
            self._draft = self._edit.edit_text
            self._history_index = len(self._history)
        self._asking_name = False
        self._asking_password = True
        self._edit.set_caption(
            ("error", IN_CLEAR_PROMPT) if insecure else PASSWORD_PROMPT
        )
        self._edit.set_mask("*")
        self._edit.set_edit_text("")
        self._changed()

    def _end_password(self, restore: bool = True) -> None:
        """
        Back to the ordinary input line, with what was being typed before
        the password prompt if C{restore}.
        """
        if self._asking_password:
            self._asking_password = False
            self._edit.set_mask(None)
            self._edit.set_caption(PROMPT)
            draft, self._draft = (self._draft if restore else ""), ""
            self._edit.set_edit_text(draft)
            self._edit.set_edit_pos(len(draft))

    def status_changed(self, status: Status) -> None:
        """
        Show C{status} on the status line.
        """
        self._status = status
        if status.connected:
            self._was_connected = True
        self._render_status()
        self._changed()

    def finished(self, code: int) -> None:
        """
        Give the terminal back, repeat the last errors if C{code} says the
        session failed (they were only on the full screen), then tell the
        L{when_finished} callbacks.
        """
        if self._finished:
            return
        self._finished = True
        if self._redraw_call is not None and self._redraw_call.active():
            self._redraw_call.cancel()
        self._redraw_call = None
        self._stop_screen()
        if code and self._errors:
            err = self._err if self._err is not None else sys.stderr
            err.write("".join(f"{text}\n" for text in self._errors))
            err.flush()
        for callback in self._on_finished:
            callback(code)

    # Keys.

    def keypress(self, size: tuple[int, int], key: str) -> str | None:
        """
        Handle C{key} as if typed on a screen of C{size} (columns, rows).

        @return: C{None} if handled, else C{key}.
        """
        return self.widget.keypress(size, key)

    def _handle_key(self, size: tuple[int, int], key: str) -> bool:
        if key != "tab":
            self._last_candidates = []
        if self._asking_password and key in ("up", "down", "tab"):
            return True  # no history, no completion: nothing leaks
        try:
            match key:
                case "enter":
                    self._enter()
                case "up":
                    self._recall(-1)
                case "down":
                    self._recall(+1)
                case "tab":
                    self._complete()
                case "page up" | "page down":
                    self._scroll(size, key)
                case "ctrl d":
                    self._ctrl_d()
                case "ctrl a":
                    self._edit.set_edit_pos(0)
                case "ctrl e":
                    self._edit.set_edit_pos(len(self._edit.edit_text))
                case "ctrl u":
                    self._cut(0, self._edit.edit_pos)
                case "ctrl k":
                    self._cut(self._edit.edit_pos, len(self._edit.edit_text))
                case "ctrl w":
                    self._cut(self._word_start(), self._edit.edit_pos)
                case _:
                    return False
        except Exception as e:
            # A traceback printed over the full screen helps nobody; show
            # the failure where the user looks.
            self._log.failure("handling key {key}", key=key)
            self.error(f"ERROR: internal error: {e!r}")
        return True

    def _unhandled_input(self, key: str | tuple[str, int, int, int]) -> bool:
        """
        Swallow keys nothing wanted: urwid has already had its say
        (Ctrl-L repaints), and there is nothing else to do with them.
        """
        return True

    def _enter(self) -> None:
        text = self._edit.edit_text
        if not text.strip() or self._session is None:
            return
        self._edit.set_edit_text("")
        if self._asking_password:
            self._end_password()
            self._session.submit_password(text)
            return
        if self._asking_name:
            self._asking_name = False
            self._edit.set_caption(PROMPT)
            self._session.submit_name(text)
            return
        if masked(text) is not None:
            pass  # passwords are not kept for recall
        elif not self._history or self._history[-1] != text:
            self._history.append(text)
            del self._history[:-MAX_HISTORY]
        self._history_index = len(self._history)
        self._draft = ""
        self._session.input_line(text)

    def _ctrl_d(self) -> None:
        text, pos = self._edit.edit_text, self._edit.edit_pos
        if text:
            self._cut(pos, pos + 1)
        elif self._session is not None:
            self._session.quit()

    def _cut(self, start: int, end: int) -> None:
        text = self._edit.edit_text
        self._edit.set_edit_text(text[:start] + text[end:], edit_pos=start)

    def _word_start(self) -> int:
        text, start = self._edit.edit_text, int(self._edit.edit_pos)
        while start > 0 and text[start - 1].isspace():
            start -= 1
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        return start

    def _recall(self, step: int) -> None:
        index = self._history_index + step
        if index < 0 or index > len(self._history):
            return
        if self._history_index == len(self._history):
            self._draft = self._edit.edit_text
        self._history_index = index
        text = self._history[index] if index < len(self._history) else self._draft
        self._edit.set_edit_text(text, edit_pos=len(text))

    def _complete(self) -> None:
        """
        Complete the word under the cursor: a command or a user name if it
        is the first word, else a user name.  A name completed as the first
        word gets a C{*} (C{bob*hi} is a private message to bob), anything
        else a space; several candidates are completed to their common
        prefix and listed.
        """
        text, pos = self._edit.edit_text, self._edit.edit_pos
        start = pos
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        end = pos
        while end < len(text) and not text[end].isspace():
            end += 1
        prefix = text[start:pos].casefold()
        first_word = not text[:start].strip()
        if first_word and not prefix:
            return
        options: list[str] = []
        if first_word:
            options.extend(_COMMANDS)
        if self._session is not None and not prefix.startswith("/"):
            options.extend(sorted(self._session.users, key=str.casefold))
        candidates = list(
            dict.fromkeys(c for c in options if c.casefold().startswith(prefix))
        )
        if not candidates:
            return
        if len(candidates) == 1:
            word = candidates[0]
            if end < len(text):
                text = text[:start] + word + text[end:]
                self._edit.set_edit_text(text, edit_pos=start + len(word))
                return
            # A name typed first is most likely addressed: NAME*text.
            name_first = first_word and word not in _COMMANDS
            text = text[:start] + word + ("*" if name_first else " ")
            self._edit.set_edit_text(text, edit_pos=len(text))
            return
        common = len(_common_prefix([c.casefold() for c in candidates]))
        if common > len(prefix):
            word = candidates[0][:common]
            self._edit.set_edit_text(
                text[:start] + word + text[pos:], edit_pos=start + common
            )
        if candidates != self._last_candidates:
            self._last_candidates = candidates
            shown = " ".join(candidates[:MAX_CANDIDATES_SHOWN])
            more = len(candidates) - MAX_CANDIDATES_SHOWN
            self.notice(shown + (f" ... and {more} more" if more > 0 else ""))

    def _scroll(self, size: tuple[int, int], key: str) -> None:
        """
        Page the scrollback.  Paging up stops following new lines; paging
        down to the end follows them again.
        """
        columns, rows = size
        body = (columns, max(1, rows - self._footer.rows((columns,), True)))
        self._listbox.keypress(body, key)
        at_bottom = "bottom" in self._listbox.ends_visible(body)
        if at_bottom and not self._following:
            self._following = True
            self._unseen = 0
            self._listbox.set_focus(len(self._walker) - 1, coming_from="above")
        elif not at_bottom:
            self._following = False
        self._render_status()

    # The scrollback.

    def _stamp(self, iso: object) -> _Markup:
        """
        C{HH:MM:SS } in local (or the given) time, from an event's ISO time,
        or now for the client's own lines and malformed times.
        """
        when: datetime | None = None
        if isinstance(iso, str):
            try:
                when = datetime.fromisoformat(iso)
            except ValueError:
                when = None
        if when is None:
            when = datetime.fromtimestamp(self._reactor.seconds(), UTC)
        elif when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return [("time", when.astimezone(self._tz).strftime("%H:%M:%S "))]

    def _marker(self, event: dict[str, Any]) -> _Markup:
        """
        C{[history]} or C{[stored]} for a message sent earlier (the stamp
        before it is when), with the date when it is not today's.
        """
        if event.get("stored") is True:
            today, other_day = "stored", "stored, sent {}"
        elif event.get("history") is True:
            today, other_day = "history", "history {}"
        else:
            return []
        label = today
        moment = when(event)
        if moment is not None:
            day = moment.astimezone(self._tz).date()
            now = datetime.fromtimestamp(self._reactor.seconds(), UTC)
            if day != now.astimezone(self._tz).date():
                label = other_day.format(day.isoformat())
        return [("marker", f"[{label}] ")]

    def _event_markup(self, event: dict[str, Any]) -> _Markup | None:
        kind = event.get("type")
        sender = _visible(str(event.get("from")))
        text = _visible(str(event.get("text", "")))
        marked = self._marker(event) if kind in ("message", "private", "action") else []
        shifted: _Markup = [("shifted", "[shift] ")] if event.get("shifted") else []
        private: _Markup = [("private", "[private] ")] if kind == "private" else []
        body = "private text" if kind == "private" else "text"
        if kind == "action" or (kind == "private" and event.get("action") is True):
            return [
                *marked,
                *private,
                *shifted,
                ("text", "* "),
                (sender_attr(sender), sender),
                (body, f" {text}"),
            ]
        if kind in ("message", "private"):
            return [
                *marked,
                *private,
                *shifted,
                (sender_attr(sender), sender),
                (body, f": {text}"),
            ]
        match kind:
            case "join" | "leave":
                line = plain(event)
                return None if line is None else [("notice", _visible(line))]
            case "error":
                return [("error", f"ERROR: {text}")]
        line = plain(event)
        return None if line is None else [("server", _visible(line))]

    def said(self, said: Said) -> None:
        """
        Show what the user just said: the server does not send a sender its
        own messages back.  The session classifies the typed line, so the
        echo matches what was really sent.
        """
        me = (self._status.name if self._status else None) or "me"
        text = _visible(said.text)
        markup: _Markup
        if said.kind == "command":
            markup = [("notice", text)]  # passwords already masked
        elif said.kind == "action":
            markup = [("text", "* "), (sender_attr(me), me), ("text", f" {text}")]
        elif said.kind == "private":
            markup = [
                ("private", f"[private to {_visible(str(said.target))}] "),
                (sender_attr(me), me),
                ("private text", f": {text}"),
            ]
        else:
            markup = [(sender_attr(me), me), ("text", f": {text}")]
        self._append(self._stamp(None) + markup)

    def _append(self, markup: _Markup) -> None:
        """
        Add one entry, drop the oldest beyond the limit, and keep the view
        at the bottom unless the user has scrolled up.
        """
        self._walker.append(urwid.Text(markup))
        excess = len(self._walker) - self._max_lines
        if excess > 0:
            del self._walker[:excess]
        if self._following:
            self._listbox.set_focus(len(self._walker) - 1, coming_from="above")
        else:
            self._unseen += 1
            self._render_status()
        self._changed()

    # The status line and the screen.

    def _render_status(self) -> None:
        status = self._status
        parts: list[tuple[str, str]] = []
        if not self._following:
            # First, so that a narrow terminal does not clip it away.
            parts.append(("status alert", f"scrolled up, {self._unseen} new"))
        if status is None:
            parts.append(("status", "starting"))
        else:
            if status.connected:
                state = ("status", "connected")
            elif self._was_connected:
                state = ("status alert", "reconnecting")
            else:
                state = ("status alert", "connecting")
            parts += [
                ("status", _visible(status.server)),
                ("status", _visible(status.name or "(no name)")),
                ("status", "TLS" if status.tls else "plain"),
                state,
                ("status", f"{status.users} online"),
            ]
        markup: _Markup = []
        for part in parts:
            markup += [("status", " | " if markup else " "), part]
        self._status_text.set_text(markup)

    def _changed(self) -> None:
        """
        Something on screen changed: repaint soon, at most once per
        L{REDRAW_INTERVAL}, with no timer left behind when nothing changes.
        """
        if self.loop is None or self._finished or self._redraw_call is not None:
            return
        delay = max(0.0, self._last_redraw + REDRAW_INTERVAL - self._reactor.seconds())
        self._redraw_call = self._reactor.callLater(delay, self._redraw)

    def _redraw(self) -> None:
        self._redraw_call = None
        self._last_redraw = self._reactor.seconds()
        if self.loop is not None and self.loop.screen.started:
            self.loop.draw_screen()

    def _stop_screen(self) -> None:
        loop = self.loop
        if loop is not None and loop.screen.started:
            loop.stop()


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]

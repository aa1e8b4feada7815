# -*- test-case-name: tests.client.test_tui,tests.client.test_rooms -*-
"""
The full-screen front end of C{chat-client}: scrollback, status line and
an input line, drawn with urwid on Twisted's reactor.

The scrollback is split into conversations: C{ALL} (everything that is
not a room's: broadcasts, server notices, and every private message, as
before rooms existed), one per room and one per private correspondent.
A bar above the status line lists them with their unread messages once
there is more than one; lines typed without an address go to the current
conversation's room or correspondent.

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

from chat.client.files import Progress
from chat.client.format import CLIENT_HELP, plain, server_help, when
from chat.client.rooms import Room, Rooms, room_line
from chat.client.session import (
    CLIENT_COMMANDS,
    QUIT_WORDS,
    SERVER_COMMANDS,
    Said,
    Status,
    masked,
)
from chat.core.names import fold, is_name, is_room

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
# Members of the current room named on the status line, at most.
MAX_STATUS_MEMBERS = 10
# File transfers shown with a progress bar above the status line, at most.
MAX_TRANSFERS_SHOWN = 3
# Characters in a progress bar, between its brackets.
BAR_WIDTH = 20

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
    ("bar current", "white,bold", "dark blue"),
    ("bar unread", "dark red,bold", "light gray"),
    # Mentions (issue 16): a message naming the user, and their count.
    ("mention", "light magenta,bold", "default"),
    ("bar mention", "dark magenta,bold", "light gray"),
    ("bar left", "dark gray", "light gray"),
    ("room", "bold", "default"),
    ("transfer", "black", "light cyan"),
    *[(f"sender {i}", colour, "default") for i, colour in enumerate(SENDER_COLOURS)],
]

# Characters that would reach the terminal as controls (escape sequences
# from a hostile peer, say); shown as ^X or U+FFFD instead.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")

# The view's own commands: switching and closing conversations.
VIEW_COMMANDS = ("/go", "/close")
_COMMANDS = SERVER_COMMANDS + CLIENT_COMMANDS + VIEW_COMMANDS

# The view's commands and keys, listed by /help after the client's.
VIEW_HELP = (
    ("/go [ALL|#ROOM|NAME|NUMBER]", "list the conversations, or show one"),
    ("/close [NUMBER|#ROOM|NAME]", "close this conversation, or that one"),
)
KEYS_HELP = (
    ("Alt-1 ... Alt-9", "show conversation 1 to 9"),
    ("Alt-Left, Alt-Right", "previous, next conversation (also Ctrl-P, Ctrl-N)"),
    ("PageUp, PageDown", "scroll; paging down to the end follows again"),
    ("Up, Down", "the lines typed before"),
    ("Tab", "complete a command, a name or a room"),
    ("Ctrl-A, Ctrl-E", "start, end of the line"),
    ("Ctrl-U, Ctrl-K, Ctrl-W", "cut to the start, to the end, a word"),
    ("Ctrl-D", "quit, on an empty line"),
)

# Conversation kinds, and the label of the one for everyone (a name nobody
# can have, and what C{ALL*TEXT} addresses).
MAIN, ROOM, PRIVATE = "main", "room", "private"
MAIN_LABEL = "ALL"
# Events that are messages: they count as unread in other conversations.
_MESSAGES = frozenset({"message", "private", "action"})
# Events that belong to ALL whatever conversation is current.
_EVERYONE = frozenset(
    {"message", "action", "join", "leave", "welcome", "stored-end", "history-end"}
)

_Markup = list[tuple[str, str] | str]
# A status line's pieces: (attribute, text).
_Parts = list[tuple[str, str]]
# A scrollback entry: a line (or lines), or /help's two columns.
_Entry = urwid.Text | urwid.Columns
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


def progress_line(progress: Progress, width: int = BAR_WIDTH) -> str:
    """
    One transfer as a bar:
    C{send report.pdf to bob [#########-----------] 45% 1.2 MiB/s 2 s left}.
    """
    filled = progress.percent * width // 100
    bar = "#" * filled + "-" * (width - filled)
    where = "send" if progress.sending else "receive"
    peer = ("to " if progress.sending else "from ") + progress.peer
    pace = progress.pace()
    line = f"{where} {progress.name} {peer} [{bar}] {progress.percent}%"
    return _visible(line + (f" {pace}" if pace else ""))


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
    rooms: Rooms

    @property
    def status(self) -> Status: ...

    def input_line(self, line: str) -> None: ...

    def submit_name(self, name: str) -> None: ...

    def submit_password(self, password: str) -> None: ...

    def opened_private(self, name: str) -> None: ...

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


class _Scrollback(urwid.ListBox[int]):
    """
    A scrollback anchored at the bottom, as IRC clients and Slack show one:
    a few lines sit just above the status line, not at the top; and while
    following, the newest entry is shown to its end, however tall (urwid's
    L{urwid.ListBox} shows a focused entry taller than the screen from its
    top).

    @ivar following: the view stays at the newest entry.
    """

    def __init__(self, walker: urwid.SimpleFocusListWalker[_Entry]) -> None:
        super().__init__(walker)
        self.walker = walker
        self.following = True

    def to_bottom(self) -> None:
        """
        Focus the newest entry; L{render} shows it with its last row on the
        last row.
        """
        if len(self.walker):
            self.set_focus(len(self.walker) - 1, coming_from="above")

    def render(  # type: ignore[override]  # as ListBox.render's
        self, size: tuple[int] | tuple[int, int], focus: bool = False
    ) -> urwid.CompositeCanvas | urwid.SolidCanvas:
        if len(size) != 2:
            return super().render(size, focus)
        columns, rows = size
        if not len(self.walker):
            return urwid.SolidCanvas(" ", columns, rows)
        used = 0  # rows of the newest entries, up to a screenful
        for entry in reversed(self.walker):
            used += entry.rows((columns,))
            if used >= rows:
                break
        shown = (columns, min(used, rows))
        if self.following:
            # Done here, for this size: the last row of the newest entry on
            # the last row, however tall the entry.
            last = len(self.walker) - 1
            self.set_focus_pending = self.set_focus_valign_pending = None
            if self.walker.focus != last:
                self.walker.set_focus(last)
            self.shift_focus(shown, shown[1] - self.walker[last].rows((columns,)))
        if used >= rows:
            return super().render(size, focus)
        blank = urwid.SolidCanvas(" ", columns, rows - used)
        canvas = super().render(shown, focus)
        return urwid.CanvasCombine([(blank, None, False), (canvas, None, True)])


class _StatusLine(urwid.Widget):
    """
    The status line: an alert (scrolled up), what the current conversation
    is (a room's members and topic can be long), then the connection's
    facts (server, name, TLS, state, users online).  On a narrow terminal
    the conversation's part is shortened first, with an ellipsis, so that
    the alert and the facts stay whole as long as they fit.
    """

    _sizing = frozenset([urwid.Sizing.FLOW])
    _selectable = False

    def __init__(self) -> None:
        super().__init__()
        self.alert: _Parts = []
        self.about: _Parts = []
        self.facts: _Parts = []

    def set_parts(self, alert: _Parts, about: _Parts, facts: _Parts) -> None:
        self.alert, self.about, self.facts = alert, about, facts
        self._invalidate()

    def rows(self, size: tuple[int], focus: bool = False) -> int:
        return 1

    def render(
        self, size: tuple[()] | tuple[int] | tuple[int, int], focus: bool = False
    ) -> urwid.Canvas:
        columns = size[0] if size else 0
        room = columns - _width(self.alert) - _width(self.facts)
        about = self.about
        if _width(about) > room:
            about = _cut(about, room - 1)
            while about:  # not ending on a separator
                attr, text = about.pop()
                if text.rstrip(" |"):
                    about.append((attr, text.rstrip(" |")))
                    break
            about.append(("status", "\N{HORIZONTAL ELLIPSIS}"))
            if room < 2:
                about = []
        markup: _Markup = [*self.alert, *about, *self.facts]
        return urwid.Text(markup or "", wrap="clip").render((columns,))


def _width(parts: _Parts) -> int:
    return sum(urwid.calc_width(text, 0, len(text)) for _, text in parts)


def _cut(parts: _Parts, width: int) -> _Parts:
    """
    The first C{width} columns of C{parts}.
    """
    kept: _Parts = []
    for attr, text in parts:
        size = urwid.calc_width(text, 0, len(text))
        if size <= width:
            kept.append((attr, text))
            width -= size
            continue
        piece = ""
        for char in text:
            width -= urwid.calc_width(char, 0, 1)
            if width < 0:
                break
            piece += char
        kept.append((attr, piece))
        break
    return kept


class _Unsettled:
    """
    A private message sent, shown as being sent until the server's next
    event says whether it was refused (the server acknowledges a private
    message it delivered with nothing, and refuses one with an error).

    @ivar target: its recipient.
    @ivar line: how it reads in the recipient's conversation, once sent.
    @ivar echoes: the entries showing it, and how each reads once sent.
    """

    def __init__(self, target: str, line: _Markup) -> None:
        self.target = target
        self.line = line
        self.echoes: list[tuple[urwid.Text, _Markup]] = []


class _Conversation:
    """
    One conversation: its own scrollback, scroll position and unread count.

    @ivar label: C{ALL}, the room's name or the correspondent's name, as
        shown.
    @ivar unseen: lines added while scrolled up.
    @ivar unread: messages that arrived while another conversation was
        shown.
    @ivar mentions: those of them that mention the user (counted apart,
        as IRC clients count highlights).
    """

    def __init__(self, kind: str, label: str) -> None:
        self.kind = kind
        self.label = label
        self.walker: urwid.SimpleFocusListWalker[_Entry] = urwid.SimpleFocusListWalker(
            []
        )
        self.listbox = _Scrollback(self.walker)
        self.unseen = 0
        self.unread = 0
        self.mentions = 0
        # A private conversation's correspondent left the server.
        self.left = False

    @property
    def key(self) -> str:
        return fold(self.label)

    @property
    def following(self) -> bool:
        """
        The view stays at the newest line.
        """
        return self.listbox.following

    @following.setter
    def following(self, following: bool) -> None:
        self.listbox.following = following


class TUIView:
    """
    An L{chat.client.session.IClientView} on a terminal.

    The widget tree is built by the constructor and can be rendered and fed
    keys without a terminal; L{start} puts it on the screen.

    @ivar widget: the top widget (what L{urwid.MainLoop} shows).
    @ivar loop: the L{urwid.MainLoop}, once L{start} has been called.
    """

    _log = Logger()
    # Private history (issue 16): the session fills each private
    # conversation with its past when it opens.
    fills_private_tabs = True

    def __init__(
        self,
        reactor: IReactorTime,
        *,
        screen: urwid.BaseScreen | None = None,
        tz: tzinfo | None = None,
        max_lines: int = MAX_LINES,
        err: TextIO | None = None,
        bell: bool = True,
        ring: Callable[[], object] | None = None,
    ) -> None:
        """
        @param reactor: runs the screen and the repaint timer; a
            L{twisted.internet.task.Clock} in tests.  Once L{start}ed it must
            also watch descriptors
            (L{twisted.internet.interfaces.IReactorFDSet}): urwid 5.1's main loop
            watches a socket pair for C{call_from_thread}, until it stops.
        @param screen: the urwid screen; the terminal if C{None}.
        @param tz: zone of the timestamps shown; local time if C{None}.
        @param max_lines: scrollback entries kept.
        @param err: where the last errors are repeated after a failed session
            (the full screen is gone by then); C{sys.stderr} if C{None}.
        @param bell: ring the terminal's bell for a mention of the user in a
            conversation not in view (C{--no-bell} turns it off).
        @param ring: how to ring it; the screen's BEL if C{None}.
        """
        self._reactor = reactor
        self._screen = screen
        self._tz = tz
        self._max_lines = max_lines
        self._err = err
        self._bell = bell
        self._ring = ring
        self._session: SessionLike | None = None
        self._status: Status | None = None
        self._was_connected = False
        self._asking_name = False
        self._asking_password = False
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

        self._main = _Conversation(MAIN, MAIN_LABEL)
        self._conversations = [self._main]
        self._current = self._main
        # Private messages sent whose fate is not known yet, oldest first.
        self._unsettled: deque[_Unsettled] = deque()
        # Rooms the user asked to join (folded): shown when joined.
        self._joining: set[str] = set()
        self._status_text = _StatusLine()
        self._bar_text = urwid.Text("", wrap="clip")
        self._bar = urwid.AttrMap(self._bar_text, "status")
        self._edit = urwid.Edit(PROMPT)
        self._status_line = urwid.AttrMap(self._status_text, "status")
        # Running file transfers, by key, and their bars' line.
        self._progress: dict[int, Progress] = {}
        self._transfers_text = urwid.Text("", wrap="clip")
        self._transfers_line = urwid.AttrMap(self._transfers_text, "transfer")
        self._footer = urwid.Pile([self._status_line, self._edit], focus_item=1)
        self._frame: _Frame = urwid.Frame(
            self._main.listbox, footer=self._footer, focus_part="footer"
        )
        self.widget = _Top(self._frame, self._handle_key)
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
        Add a server event to the scrollback of the conversations it
        belongs to; a room the user asked to join is shown once joined.
        """
        kind = event.get("type")
        if kind in ("join", "leave") and isinstance(event.get("name"), str):
            self._correspondent_came_or_left(event["name"], kind == "leave")
        if kind == "help" and isinstance(event.get("commands"), list):
            self._show_help(event)
            return
        room = event.get("room") if isinstance(event.get("room"), str) else None
        # Live and missed messages are news; history shown on joining is not.
        live = kind in _MESSAGES and (
            not event.get("history") or bool(event.get("missed"))
        )
        stamp = self._stamp(event)
        # Mentions (issue 16): the server flags a live message naming us.
        mention = live and event.get("mention") is True
        unseen = False
        for conversation in self._destinations(event):
            markup = self._event_markup(event, conversation, mention)
            # A private message is counted in its own conversation only.
            news = live and not (kind == "private" and conversation is self._main)
            if markup is not None:
                self._append(stamp + markup, conversation, unread=news)
                if mention:
                    unseen |= self._mentioned(conversation)
        if unseen:
            self._ring_bell()
        if kind == "room-joined" and room is not None:
            if fold(room) in self._joining and not event.get("rejoined"):
                self._joining.discard(fold(room))
                self._switch(self._open(ROOM, room))
        self._render_status()

    def _show_help(self, event: dict[str, Any]) -> None:
        """
        C{/help}: the client's commands and keys, then the server's (those
        programs need left out), one entry a line, in two columns; a long
        description wraps within its column.
        """
        stamp = self._stamp(event)
        sections = [
            ("chat-client's commands", [*CLIENT_HELP, *VIEW_HELP]),
            ("keys", list(KEYS_HELP)),
            ("the server's commands", server_help(event)),
        ]
        usages = [usage for _, entries in sections for usage, _ in entries]
        width = max(len(usage) for usage in usages)
        left = len(stamp[0][1]) + 4 + width
        for title, entries in sections:
            self._append(stamp + [("server", f"* {title}:")])
            for usage, about in entries:
                self._append_widget(
                    urwid.Columns(
                        [
                            (
                                left,
                                urwid.Text(
                                    [*stamp, ("text", f"    {_visible(usage)}")]
                                ),
                            ),
                            urwid.Text(("text", _visible(about))),
                        ],
                        dividechars=2,
                    )
                )

    def notice(self, text: str) -> None:
        """
        Add something the client says, dimmed, where the user is looking.
        """
        self._append(self._stamp() + [("notice", f"* {_visible(text)}")])

    def error(self, text: str) -> None:
        """
        Add an error, in red, where the user is looking; the last few are
        kept for L{finished}.
        """
        self._error(text)

    def answered(self, accepted: bool | None) -> None:
        """
        The server answered the oldest private message still shown as
        being sent (see L{_settle}).
        """
        if self._unsettled:
            self._settle(self._unsettled.popleft(), accepted)

    def _error(self, text: str) -> None:
        """
        L{error}, for the view's own errors.
        """
        self._errors.append(text)
        self._append(self._stamp() + [("error", _visible(text))])
        self._render_status()  # a refused rejoin changed a room

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
            self._append(self._stamp() + [("server", _visible(line))])
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

    def progress(self, progress: Progress) -> None:
        """
        Show running transfers as progress bars above the status line (the
        repaint is rate-limited like every other); a finished or failed one
        goes (the scrollback says how it ended).
        """
        if progress.running:
            self._progress[progress.key] = progress
        elif self._progress.pop(progress.key, None) is None:
            return
        self._render_transfers()
        self._changed()

    def _render_transfers(self) -> None:
        widgets = [widget for widget, _ in self._footer.contents]
        shown = self._transfers_line in widgets
        if not self._progress:
            if shown:
                del self._footer.contents[widgets.index(self._transfers_line)]
            return
        running = list(self._progress.values())
        lines = [progress_line(p) for p in running[:MAX_TRANSFERS_SHOWN]]
        if len(running) > MAX_TRANSFERS_SHOWN:
            lines.append(f"... and {len(running) - MAX_TRANSFERS_SHOWN} more")
        self._transfers_text.set_text("\n".join(lines))
        if not shown:
            self._footer.contents.insert(
                widgets.index(self._status_line),
                (self._transfers_line, self._footer.options()),
            )

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
                case "meta right" | "ctrl n":
                    self._step(+1)
                case "meta left" | "ctrl p":
                    self._step(-1)
                case _ if _alt_digit(key):
                    self._go(key[-1])
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
            self._error(f"ERROR: internal error: {e!r}")
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
        word, _, rest = text.partition(" ")
        if word == "/go":
            self._go(rest.strip())
            return
        if word == "/close":
            self._close(rest.strip())
            return
        line = self._addressed(text)
        if word.lower() == "/join" and is_room(rest.strip()):
            self._joining.add(fold(rest.strip()))
        self._session.input_line(line)

    def _addressed(self, text: str) -> str:
        """
        C{text} as sent from the current conversation: a line with no
        address of its own goes to the conversation's room or correspondent
        (C{#room*TEXT}, C{NAME*TEXT}); commands, client keywords and lines
        that say whom they are for go as typed.
        """
        conversation = self._current
        if conversation.kind == MAIN or text.startswith("/"):
            return text
        word = text.partition(" ")[0]
        if text in QUIT_WORDS or text == "CONNECT" or word == "SEND":
            return text
        target, star, _ = text.partition("*")
        if star and (is_name(target) or room_line(text) is not None):
            return text
        return f"{conversation.label}*{text}"

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
        if self._session is not None and prefix.startswith("#"):
            rooms = (room.name for room in self._session.rooms)
            options.extend(sorted(rooms, key=str.casefold))
        elif self._session is not None and not prefix.startswith("/"):
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
            # A name (or room) typed first is most likely addressed.
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
        conversation = self._current
        conversation.listbox.keypress(body, key)
        at_bottom = "bottom" in conversation.listbox.ends_visible(body)
        if at_bottom and not conversation.following:
            conversation.following = True
            conversation.unseen = 0
            conversation.listbox.to_bottom()
        elif not at_bottom:
            conversation.following = False
        self._render_status()

    # Conversations.

    def _find(self, kind: str, label: str) -> _Conversation | None:
        for conversation in self._conversations:
            if conversation.kind == kind and conversation.key == fold(label):
                return conversation
        return None

    def _open(self, kind: str, label: str) -> _Conversation:
        """
        The conversation of this kind with C{label}, made if there is none.
        """
        conversation = self._find(kind, label)
        if conversation is None:
            conversation = _Conversation(kind, label)
            self._conversations.append(conversation)
            self._render_status()
        return conversation

    def _room_info(self, name: str) -> Room | None:
        return None if self._session is None else self._session.rooms.get(name)

    def _room_conversation(self, room: str) -> _Conversation | None:
        """
        The conversation of C{room}, made again if the user is in the room
        (after a C{/close}), else C{None} if there is none.
        """
        conversation = self._find(ROOM, room)
        if conversation is None:
            info = self._room_info(room)
            if info is not None and info.member:
                conversation = self._open(ROOM, info.name)
        return conversation

    def _destinations(self, event: dict[str, Any]) -> list[_Conversation]:
        """
        Where an event is shown: a room's events in its conversation (made
        again for a room the user is in), and where the user is looking
        too if they answer the user; private messages in ALL and in the
        correspondent's conversation; what concerns everyone in ALL; the
        rest (replies to commands) where the user is looking.
        """
        kind = event.get("type")
        room = event.get("room")
        if isinstance(room, str) and room and kind != "room-invite":
            conversation = self._room_conversation(room)
            if conversation is None:
                return [self._current]
            if conversation is not self._current and self._answers_user(event):
                return [conversation, self._current]
            return [conversation]
        other = event.get("with")  # private history (issue 16)
        if kind in ("private", "history-end") and isinstance(other, str):
            return [self._open(PRIVATE, other)]
        if kind == "private":
            return [self._main, self._open(PRIVATE, str(event.get("from")))]
        if kind in _EVERYONE:
            return [self._main]
        return [self._current]

    def _answers_user(self, event: dict[str, Any]) -> bool:
        """
        Whether a room event answers what the user did (or happened to the
        user), so that the user sees it where it was asked for.
        """
        kind = event.get("type")
        if kind in ("room-members", "room-invited"):
            return True
        if kind == "room-topic" and not event.get("by"):
            return True  # the reply to /topic #room
        if kind in _MESSAGES or kind == "history-end":
            return False
        me = self._status.name if self._status is not None else None
        if me is None:
            return False
        who = (event.get("by"), event.get("name"))
        return any(isinstance(w, str) and fold(w) == fold(me) for w in who)

    def _switch(self, conversation: _Conversation) -> None:
        """
        Show C{conversation}: its scrollback, and its facts on the status
        line; its messages are read.
        """
        self._current = conversation
        conversation.unread = 0
        conversation.mentions = 0
        self._frame.body = conversation.listbox
        self._render_status()
        self._changed()

    def _step(self, step: int) -> None:
        index = self._conversations.index(self._current) + step
        self._switch(self._conversations[index % len(self._conversations)])

    def _go(self, where: str) -> None:
        """
        C{/go}: list the conversations; C{/go ALL|#room|NAME|NUMBER}: show
        one (a private conversation is made for any name).
        """
        if not where:
            listed = ", ".join(
                f"{i} {c.label}" + _news(c)
                for i, c in enumerate(self._conversations, 1)
            )
            self.notice(f"conversations: {listed}; /go NUMBER, #ROOM or NAME")
            return
        if where.isascii() and where.isdigit():
            index = int(where) - 1
            if 0 <= index < len(self._conversations):
                self._switch(self._conversations[index])
            else:
                self._error(f"ERROR: there is no conversation {where}; /go lists them.")
            return
        if fold(where) == fold(MAIN_LABEL):
            self._switch(self._main)
        elif is_room(where):
            conversation = self._room_conversation(where)
            if conversation is None:
                self._error(f"ERROR: you are not in {where}; /join {where} first.")
                return
            self._switch(conversation)
        elif is_name(where):
            users = self._session.users if self._session is not None else set()
            name = next((u for u in users if fold(u) == fold(where)), where)
            self._switch(self._open(PRIVATE, name))
            if self._session is not None:
                # Its past, before anything is said in it.
                self._session.opened_private(name)
        else:
            self._error("ERROR: usage: /go [ALL | #ROOM | NAME | NUMBER]")

    def _close(self, which: str = "") -> None:
        """
        C{/close}: drop the current conversation (not ALL) and show the one
        before it; C{/close NUMBER|#ROOM|NAME} drops that one (the one of
        someone who left, say) and stays.  A room is not left: its next
        message opens it again.
        """
        conversation: _Conversation | None = self._current
        if which.isascii() and which.isdigit():
            index = int(which) - 1
            ok = 0 <= index < len(self._conversations)
            conversation = self._conversations[index] if ok else None
        elif which:
            conversation = self._find(ROOM if is_room(which) else PRIVATE, which)
            if fold(which) == fold(MAIN_LABEL):
                conversation = self._main
        if conversation is None:
            self._error(f"ERROR: there is no conversation {which}; /go lists them.")
            return
        if conversation is self._main:
            self._error(f"ERROR: {MAIN_LABEL} cannot be closed.")
            return
        index = self._conversations.index(conversation)
        self._conversations.remove(conversation)
        if conversation is self._current:
            self._switch(self._conversations[index - 1])
        else:
            self._render_status()
        if conversation.kind == ROOM:
            info = self._room_info(conversation.label)
            if info is not None and info.member:
                self.notice(f"still in {info.name}; /leave {info.name} leaves it")

    # The scrollback.

    def _stamp(self, event: dict[str, Any] | None = None) -> _Markup:
        """
        C{HH:MM:SS } in local (or the given) time, from an event's time, or
        now for the client's own lines and malformed times.
        """
        moment = None if event is None else when(event)
        if moment is None:
            moment = datetime.fromtimestamp(self._reactor.seconds(), UTC)
        return [("time", moment.astimezone(self._tz).strftime("%H:%M:%S "))]

    def _marker(self, event: dict[str, Any]) -> _Markup:
        """
        C{[history]} or C{[stored]} for a message sent earlier (the stamp
        before it is when), with the date when it is not today's.
        """
        if event.get("stored") is True:
            today, other_day = "stored", "stored, sent {}"
        elif event.get("missed") is True:
            today, other_day = "missed", "missed, sent {}"
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

    def _event_markup(
        self, event: dict[str, Any], conversation: _Conversation, mention: bool = False
    ) -> _Markup | None:
        """
        How C{event} reads in C{conversation}: a message says its room or
        that it is private unless the conversation already does; one that
        C{mention}s the user is highlighted.
        """
        kind = event.get("type")
        sender = _visible(str(event.get("from")))
        text = _visible(str(event.get("text", "")))
        marked = self._marker(event) if kind in _MESSAGES else []
        shifted: _Markup = [("shifted", "[shift] ")] if event.get("shifted") else []
        labels: _Markup = []
        room = event.get("room")
        if kind in _MESSAGES and isinstance(room, str) and room:
            if conversation.kind != ROOM:
                labels = [("room", f"{_visible(room)} ")]
        elif kind == "private" and conversation.kind != PRIVATE:
            labels = [("private", "[private] ")]
        body = "private text" if kind == "private" else "text"
        if mention:
            body = "mention"
        if kind == "action" or (kind == "private" and event.get("action") is True):
            return [
                *marked,
                *labels,
                *shifted,
                ("text", "* "),
                (sender_attr(sender), sender),
                (body, f" {text}"),
            ]
        if kind in ("message", "private"):
            return [
                *marked,
                *labels,
                *shifted,
                (sender_attr(sender), sender),
                (body, f": {text}"),
            ]
        match kind:
            case "join" | "leave" | "room-join" | "room-leave":
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
        stamp = self._stamp()
        if said.kind == "command":
            # Passwords already masked.
            self._append(stamp + [("notice", text)])
            return
        mine: _Markup = [(sender_attr(me), me)]
        if said.kind == "action":
            mine = [("text", "* "), *mine, ("text", f" {text}")]
        elif said.kind == "private":
            mine.append(("private text", f": {text}"))
        else:
            mine.append(("text", f": {text}"))
        if said.kind == "private":
            self._said_private(str(said.target), stamp, mine)
            return
        # Its own conversation, and what it is called elsewhere.
        home: _Conversation | None
        if said.room is not None:
            home = self._room_conversation(said.room)
            elsewhere: _Markup = [("room", f"{_visible(said.room)} ")]
        else:
            home = self._main
            elsewhere = [("marker", f"[to {MAIN_LABEL}] ")]
        if home is not None:
            self._append(stamp + mine, home)
        if self._current is not home:
            self._append(stamp + elsewhere + mine)

    def _said_private(self, target: str, stamp: _Markup, mine: _Markup) -> None:
        """
        Show a private message as being sent: in ALL, in the
        correspondent's conversation if there is one, and where the user
        is looking.  A conversation is opened for it only once it is
        accepted (L{_settle}).
        """
        unsettled = _Unsettled(target, stamp + mine)
        sending: _Markup = [("marker", "[sending] ")]
        label: _Markup = [("private", f"[private to {_visible(target)}] ")]
        home = self._find(PRIVATE, target)
        shown: list[tuple[_Conversation, _Markup]] = [(self._main, label + mine)]
        if home is not None:
            shown.append((home, mine))
        if self._current not in (home, self._main):
            shown.append((self._current, label + mine))
        for conversation, markup in shown:
            entry = self._append(stamp + sending + markup, conversation)
            unsettled.echoes.append((entry, stamp + markup))
        self._unsettled.append(unsettled)

    def _settle(self, unsettled: _Unsettled, accepted: bool | None) -> None:
        """
        A private message was accepted (delivered or stored): shown as sent,
        in its correspondent's conversation (opened if need be); or it was
        refused: shown as not sent, and no conversation is opened for it;
        or the connection was lost before the server said: shown as
        unconfirmed.
        """
        for entry, markup in unsettled.echoes:
            if accepted:
                entry.set_text(markup)
            elif accepted is None:
                entry.set_text(markup[:1] + [("marker", "[unconfirmed] ")] + markup[1:])
            else:
                entry.set_text(markup[:1] + [("error", "[not sent] ")] + markup[1:])
        if accepted and self._find(PRIVATE, unsettled.target) is None:
            self._append(unsettled.line, self._open(PRIVATE, unsettled.target))
        self._changed()

    def _correspondent_came_or_left(self, name: str, left: bool) -> None:
        """
        Mark the private conversation with C{name} (if any) as left, with a
        line saying how to close it; or no longer, when they are back.
        """
        conversation = self._find(PRIVATE, name)
        if conversation is None or conversation.left == left:
            return
        conversation.left = left
        if left:
            line = f"* {_visible(name)} left; /close closes this conversation"
        else:
            line = f"* {_visible(name)} is back"
        self._append(self._stamp() + [("notice", line)], conversation)
        self._render_status()

    def _append(
        self,
        markup: _Markup,
        conversation: _Conversation | None = None,
        *,
        unread: bool = False,
    ) -> urwid.Text:
        """
        Add one entry to C{conversation} (the current one if C{None}), drop
        its oldest beyond the limit, and keep it at the bottom unless the
        user has scrolled up.

        @param unread: a message, unread if another conversation is shown.
            A private message shown in ALL while ALL is read at its bottom
            was seen.
        """
        entry = urwid.Text(markup)
        self._append_widget(entry, conversation, unread=unread)
        return entry

    def _append_widget(
        self,
        entry: _Entry,
        conversation: _Conversation | None = None,
        *,
        unread: bool = False,
    ) -> None:
        """
        L{_append} for any flow widget.
        """
        if conversation is None:
            conversation = self._current
        walker = conversation.walker
        walker.append(entry)
        excess = len(walker) - self._max_lines
        if excess > 0:
            del walker[:excess]
        if conversation.following:
            conversation.listbox.to_bottom()
        else:
            conversation.unseen += 1
        seen_in_main = self._current is self._main and self._main.following
        if unread and conversation is not self._current:
            if not (conversation.kind == PRIVATE and seen_in_main):
                conversation.unread += 1
                self._render_status()
        if conversation is self._current and not conversation.following:
            self._render_status()
        self._changed()

    # Mentions (issue 16, "mentions").

    def _mentioned(self, conversation: _Conversation) -> bool:
        """
        A message in C{conversation} mentions the user: counted apart if
        the conversation is not in view.

        @return: whether it is out of view (another conversation is shown,
            or this one is scrolled up), so the bell should ring.
        """
        if conversation is not self._current:
            conversation.mentions += 1
            self._render_bar()
            return True
        return not conversation.following

    def _ring_bell(self) -> None:
        """
        Ring the terminal's bell (BEL), once per message, unless turned off.
        """
        if not self._bell:
            return
        if self._ring is not None:
            self._ring()
            return
        if self.loop is None:
            return
        screen = self.loop.screen
        write = getattr(screen, "write", None)
        if write is None:
            return
        write("\a")
        flush = getattr(screen, "flush", None)
        if flush is not None:
            flush()

    # The status line and the conversation bar.

    def _render_status(self) -> None:
        status = self._status
        current = self._current
        alert: _Parts = []
        if not current.following:
            # First, so that a narrow terminal does not clip it away.
            alert = [
                ("status", " "),
                ("status alert", f"scrolled up, {current.unseen} new"),
            ]
        parts = self._conversation_parts()
        facts: list[tuple[str, str]] = []
        if status is None:
            facts.append(("status", "starting"))
        else:
            if status.connected:
                state = ("status", "connected")
                users = ("status", f"{status.users} online")
            elif self._was_connected:
                state = ("status alert", "reconnecting")
                # The count of the last connection: others came and went.
                users = ("status alert", f"{status.users} online (stale)")
            else:
                state = ("status alert", "connecting")
                users = ("status", "? online")
            facts += [
                ("status", _visible(status.server)),
                ("status", _visible(status.name or "(no name)")),
                ("status", "TLS" if status.tls else "plain"),
                state,
                users,
            ]
        about: _Parts = []
        for part in parts:
            about += [("status", " | " if about or alert else " "), part]
        markup: _Parts = []
        for part in facts:
            markup += [("status", " | " if markup or about or alert else " "), part]
        self._status_text.set_parts(alert, about, markup)
        self._render_bar()

    def _conversation_parts(self) -> list[tuple[str, str]]:
        """
        The current room's members and topic, or the correspondent of a
        private conversation, for the status line.
        """
        current = self._current
        if current.kind == PRIVATE:
            # Above 50 users the server does not list them: only "online"
            # is certain.
            users = self._session.users if self._session is not None else set()
            online = fold(current.label) in {fold(u) for u in users}
            about = f"private with {_visible(current.label)}"
            if current.left:
                return [("status alert", about + " (left)")]
            return [("status", about + (" (online)" if online else ""))]
        if current.kind != ROOM:
            return []
        room = self._room_info(current.label)
        label = _visible(current.label)
        if room is None or not room.member:
            return [("status alert", f"{label}: not in it")]
        count = "?" if room.count is None else str(room.count)
        about = f"{label} ({count})"
        if room.members:
            shown = [room.marked(m) for m in room.members[:MAX_STATUS_MEMBERS]]
            more = len(room.members) > MAX_STATUS_MEMBERS
            about += ": " + ", ".join(shown) + (", ..." if more else "")
        parts = [("status", _visible(about))]
        if room.invite_only:
            parts.append(("status", "invite-only"))
        topic = f"topic: {room.topic}" if room.topic else "no topic"
        parts.append(("status", _visible(topic)))
        return parts

    def _render_bar(self) -> None:
        """
        The conversation bar: shown only once there is more than ALL, with
        each conversation's number (Alt-NUMBER), the current one
        highlighted, unread counts, and rooms left dimmed.
        """
        shown = self._footer.contents[0][0] is self._bar
        if len(self._conversations) < 2:
            if shown:
                del self._footer.contents[0]
            return
        if not shown:
            self._footer.contents.insert(0, (self._bar, self._footer.options()))
        markup: list[tuple[str, str]] = []
        for number, conversation in enumerate(self._conversations, 1):
            attr = "status"
            if conversation is self._current:
                attr = "bar current"
            elif conversation.kind == ROOM:
                info = self._room_info(conversation.label)
                if info is None or not info.member:
                    attr = "bar left"
            elif conversation.left:
                attr = "bar left"
            label = _visible(conversation.label)
            if conversation.left and conversation is not self._current:
                label += " (left)"
            markup += [("status", "  " if markup else " "), (attr, f"{number}:{label}")]
            if conversation.unread:
                markup.append(("bar unread", f" ({conversation.unread})"))
            if conversation.mentions:
                markup.append(("bar mention", f" @{conversation.mentions}"))
        self._bar_text.set_text(markup)

    # The screen.

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


def _news(conversation: _Conversation) -> str:
    """
    C{ (3 new, 1 mention)}: what C{/go} says of a conversation not read.
    """
    if not conversation.unread:
        return ""
    mentions = conversation.mentions
    if not mentions:
        return f" ({conversation.unread} new)"
    plural = "" if mentions == 1 else "s"
    return f" ({conversation.unread} new, {mentions} mention{plural})"


def _alt_digit(key: str) -> bool:
    """
    Alt-1 to Alt-9: show that conversation.
    """
    return key.startswith("meta ") and key[-1] in "123456789" and len(key) == 6


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]

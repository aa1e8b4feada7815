# -*- test-case-name: tests.e2e.test_client -*-
"""
Scriptable mode: stdin lines in, one plain line per event out.

Events go to stdout, errors and the client's own notices to stderr, so
C{printf 'ALL*build finished\\n' | chat-client --name ci-bot} composes with
other tools.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from chat.client.controls import shown, shown_event
from chat.client.files import Progress, ProgressThrottle
from chat.client.format import plain
from chat.client.session import ClientSession, Said, Status


class ScriptView:
    """
    An L{IClientView} writing plain lines to two text streams.
    """

    def __init__(self, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.out = out
        self.err = err
        self.session: ClientSession | None = None
        self.awaiting_name = False
        self.input_ended = False
        self.code: int | None = None
        self._on_finished: list[Any] = []
        self._throttle = ProgressThrottle()

    def show(self, event: dict[str, Any]) -> None:
        """
        One plain line (a file list: one per kind), built from the event's
        fields with their control characters escaped: another user's text
        can neither move the reader's cursor nor forge a line.
        """
        line = plain(shown_event(event))
        if line is not None:
            self.out.write(line + "\n")
            self.out.flush()

    def notice(self, text: str) -> None:
        self.err.write(f"* {shown(text)}\n")
        self.err.flush()

    def error(self, text: str) -> None:
        self.err.write(shown(text) + "\n")
        self.err.flush()

    def said(self, said: Said) -> None:
        """
        Scripts do not see their own lines again.
        """

    def answered(self, accepted: bool | None) -> None:
        """
        Nor whether each was delivered: a refusal is an error line.
        """

    def ask_name(self) -> None:
        if self.input_ended:  # no line can answer: do not wait forever
            self.error("ERROR: no name given before the end of input")
            if self.session is not None:
                self.session.stop(2)
            return
        self.awaiting_name = True
        self.err.write("Name: ")
        self.err.flush()

    def ask_password(self, name: str, insecure: bool, text: str) -> None:
        """
        A script's password comes from C{--password-file} or
        C{CHAT_PASSWORD}, never from its input (those lines are messages);
        the session only asks when neither was given, so give up.
        """
        self.error(
            f"ERROR: {name} is a registered name; give --password-file FILE "
            "or set CHAT_PASSWORD."
        )
        if self.session is not None:
            self.session.quit(code=1)

    def status_changed(self, status: Status) -> None:
        pass

    def progress(self, progress: Progress) -> None:
        """
        A line on the error stream for the first report, then at most one
        a second unless another tenth of the file went by, and one at the
        end: C{* sending report.pdf to bob: 45% 12.3 MiB/s 2 s left}.
        """
        if self._throttle.due(progress):
            self.notice(progress.describe())

    def finished(self, code: int) -> None:
        if self.code is None:
            self.code = code
            for callback in self._on_finished:
                callback(code)

    def when_finished(self, callback: Any) -> None:
        self._on_finished.append(callback)


class StdinReader(LineReceiver):
    """
    Feed stdin to the session line by line.  Without C{--name}, the first
    line (after a C{CONNECT} or C{/connect}) is the name: it answers the
    name prompt, pending or still to come (a pipe's lines are all read
    before the server's prompt arrives).
    """

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, view: ScriptView, session: ClientSession) -> None:
        self.view = view
        self.session = session

    def lineReceived(self, line: bytes) -> None:
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if self.view.awaiting_name:
            self.view.awaiting_name = False
            self.session.submit_name(text)
        elif self.session.name is None and text.strip() and not _connects(text):
            # Sent when the server asks for it (submit_name would send it
            # now and again at the prompt).
            self.session.name = text.strip()
        else:
            self.session.input_line(text)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self._buffer:  # a last line without a newline
            rest, self._buffer = self._buffer, b""
            self.lineReceived(rest)
        self.view.input_ended = True
        if self.view.awaiting_name:
            self.view.error("ERROR: no name given before the end of input")
            self.session.stop(2)
            return
        self.session.end_of_input()


def _connects(line: str) -> bool:
    """
    Whether C{line} is C{CONNECT} or C{/connect ...}: with C{--no-connect}
    it comes before the name.
    """
    return line == "CONNECT" or line.partition(" ")[0] == "/connect"

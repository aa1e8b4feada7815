# -*- test-case-name: tests.test_client_session -*-
"""
One conversation with a txchat server, independent of how it is shown.

L{ClientSession} keeps the connection up (reconnecting with backoff and
rejoining under the same name), speaks the server's JSON mode, applies the
shift cipher, and tells an L{IClientView} what happened.  Views hand it the
lines the user typed.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.interfaces import (
    IDelayedCall,
    IHandshakeListener,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.client import cipher
from chat.commands import Say, Slash, Whisper, parse

# Lines typed while not joined wait for the (re)join, up to this many.
MAX_PENDING = 10_000
# Errors that send the user back to choosing a name.
NAME_ERRORS = frozenset({"invalid-name", "reserved-name", "name-in-use"})
# Seconds to wait for the server to close after /quit.
QUIT_GRACE = 5.0
# Words that end the session (seeds 002, 003, 004 and the usual ones).
QUIT_WORDS = frozenset({"QUIT", "tata", "q", "/quit", "/exit"})
# Commands whose text is shifted by the cipher: /dm NAME TEXT and /cmd TEXT.
_TARGETED = frozenset({"dm", "msg"})
_TEXTUAL = frozenset({"bm", "me"})
# The client's own commands, for completion and /help.
CLIENT_COMMANDS = ("/connect", "CONNECT", "SEND", "QUIT")
SERVER_COMMANDS = ("/help", "/users", "/who", "/dm", "/msg", "/bm", "/me", "/quit")


@dataclass(frozen=True)
class Status:
    """
    What a status line shows.
    """

    server: str
    tls: bool
    connected: bool = False
    name: str | None = None
    users: int = 0


class IClientView(Protocol):
    """
    What a front end does for a L{ClientSession}.
    """

    def show(self, event: dict[str, Any]) -> None:
        """
        A server event (a JSON object, shift cipher already undone).
        """

    def notice(self, text: str) -> None:
        """
        Something the client itself has to say (connection state).
        """

    def error(self, text: str) -> None:
        """
        A refusal or failure; C{text} starts with C{ERROR:}.
        """

    def ask_name(self) -> None:
        """
        Ask the user for a name; answer with L{ClientSession.submit_name}.
        """

    def status_changed(self, status: Status) -> None:
        """
        The status line's facts changed.
        """

    def finished(self, code: int) -> None:
        """
        The session is over; exit with C{code}.
        """


@implementer(IHandshakeListener)
class ClientProtocol(LineReceiver):
    """
    The wire side: JSON lines in, typed lines out.
    """

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.handshake_done = False

    def connectionMade(self) -> None:
        self.sendLine(b"/mode json")
        self.session.connection_made(self)

    def handshakeCompleted(self) -> None:
        self.handshake_done = True

    def lineReceived(self, line: bytes) -> None:
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        if text.startswith("{"):
            try:
                event = json.loads(text)
            except ValueError:
                event = None
            if isinstance(event, dict) and isinstance(event.get("type"), str):
                self.session.event_received(event)
                return
        self.session.raw_line(text)

    def send(self, text: str) -> None:
        self.sendLine(text.encode("utf-8"))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.session.connection_lost(self, reason)


class _Factory(Factory):
    def __init__(self, session: ClientSession) -> None:
        self.session = session

    def buildProtocol(self, addr: object) -> ClientProtocol:
        return ClientProtocol(self.session)


class ClientSession:
    """
    The state of one user's conversation.

    @ivar users: names known to be online, for completion.
    """

    def __init__(
        self,
        view: IClientView,
        endpoint: IStreamClientEndpoint,
        *,
        server: str,
        tls: bool,
        clock: IReactorTime,
        name: str | None = None,
        shift_cipher: bool = False,
        interactive: bool = False,
        endpoint_for: Callable[[str, int], tuple[IStreamClientEndpoint, str]]
        | None = None,
    ) -> None:
        self.view = view
        self.name = name
        self.shift_cipher = shift_cipher
        self.interactive = interactive
        self.users: set[str] = set()
        self._clock = clock
        self._endpoint = endpoint
        self._endpoint_for = endpoint_for
        self._status = Status(server=server, tls=tls)
        self._protocol: ClientProtocol | None = None
        self._joined = False
        self._pending: deque[str] = deque()
        self._quitting = False
        self._quit_when_flushed = False
        self._quit_reason: str | None = None
        self._ever_connected = False
        self._service: ClientService | None = None
        self._quit_deadline: IDelayedCall | None = None

    # Lifecycle.

    def start(self) -> None:
        """
        Connect, and keep reconnecting with backoff until L{quit}.
        """
        self._service = ClientService(
            self._endpoint,
            _Factory(self),
            retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=30.0, factor=2.0),
            clock=self._clock,
        )
        if not self._ever_connected:
            # Before starting: an endpoint may fail synchronously.
            first = self._service.whenConnected(failAfterFailures=1)
            first.addErrback(self._first_connection_failed)
        self._service.startService()

    def _first_connection_failed(self, failure: Failure) -> None:
        if self._ever_connected or self._quitting:
            return
        self.view.error(f"ERROR: Connection Failed. {failure.getErrorMessage()}")
        if not self.interactive:
            self.stop(1)
        else:
            self.view.notice("retrying; type CONNECT or /connect to try now")

    def quit(self, reason: str = "") -> None:
        """
        Leave: ask the server to close (so every reply to what was sent
        arrives first), then finish with 0.
        """
        if self._quitting:
            return
        self._quitting = True
        if self._protocol is None:
            self.stop(0)
            return
        self._protocol.send(f"/quit {reason}".rstrip())
        self._quit_deadline = self._clock.callLater(QUIT_GRACE, self.stop, 0)

    def stop(self, code: int) -> None:
        """
        Stop connecting and finish with exit status C{code}.
        """
        self._quitting = True
        if self._quit_deadline is not None and self._quit_deadline.active():
            self._quit_deadline.cancel()
        self._quit_deadline = None
        service, self._service = self._service, None
        if service is None:
            self.view.finished(code)
            return
        # Not from inside the service's own callbacks: it is not reentrant.
        self._clock.callLater(
            0,
            lambda: service.stopService().addBoth(lambda _: self.view.finished(code)),
        )

    def reconnect(self, host: str | None = None, port: int | None = None) -> None:
        """
        Drop the connection (if any) and connect again, now, possibly to
        another server.
        """
        if host is not None and self._endpoint_for is not None:
            self._endpoint, label = self._endpoint_for(host, port or 55555)
            self._status = replace(self._status, server=label)
        service, self._service = self._service, None
        if service is not None:
            service.stopService()
        self._quitting = False
        self.view.notice(f"connecting to {self._status.server}")
        self.start()

    # Input from the view.

    def input_line(self, line: str) -> None:
        """
        A line the user typed: client keywords, or a line for the server.
        """
        line = line.rstrip("\r\n")
        word, _, rest = line.partition(" ")
        if self._quit_reason is not None:
            return  # a script's QUIT is queued; nothing after it is sent
        if line in QUIT_WORDS or word in ("/quit", "/exit"):
            reason = rest if word in ("/quit", "/exit") else ""
            if self._pending and not self.interactive:
                # A script's earlier lines wait for the join: quit after them.
                self._quit_reason = reason
                self._quit_when_flushed = True
            else:
                self.quit(reason)
        elif line == "CONNECT":
            if self._status.connected:
                self.view.notice(f"already connected to {self._status.server}")
            else:
                self.reconnect()
        elif word == "/connect":
            host, _, port = rest.strip().partition(" ")
            try:
                number = int(port) if port else None
            except ValueError:
                self.view.error("ERROR: usage: /connect [HOST [PORT]]")
                return
            self.reconnect(host or None, number)
        elif word == "SEND":
            if rest:
                self._send(self._outgoing(f"/bm {rest}"))
            else:
                self.view.error("ERROR: usage: SEND <message>")
        elif line:
            self._send(self._outgoing(line))

    def submit_name(self, name: str) -> None:
        """
        The user's answer to L{IClientView.ask_name}.
        """
        self.name = name.strip()
        if self._protocol is not None and not self._joined:
            self._protocol.send(self.name)

    def end_of_input(self) -> None:
        """
        No more input: send what is pending, then quit.
        """
        if self._joined and not self._pending:
            self.quit()
        else:
            self._quit_when_flushed = True

    def _outgoing(self, line: str) -> str:
        if not self.shift_cipher:
            return line
        command = parse(line)
        if isinstance(command, Whisper) and command.text:
            return f"{command.target}*{cipher.encode(command.text)}"
        if isinstance(command, Say):
            prefix = line[: len(line) - len(command.text)]
            return prefix + cipher.encode(command.text) if command.text else line
        if isinstance(command, Slash):
            if command.name in _TARGETED:
                target, _, text = command.args.lstrip().partition(" ")
                if text:
                    return f"/{command.name} {target} {cipher.encode(text)}"
            elif command.name in _TEXTUAL and command.args:
                return f"/{command.name} {cipher.encode(command.args)}"
        return line

    def _send(self, line: str) -> None:
        if self._joined and self._protocol is not None:
            self._protocol.send(line)
        elif len(self._pending) < MAX_PENDING:
            self._pending.append(line)
        else:
            self.view.error("ERROR: not connected and too many lines waiting")

    # Events from the protocol.

    def connection_made(self, protocol: ClientProtocol) -> None:
        self._protocol = protocol
        self._joined = False
        self._ever_connected = True
        self._set_status(connected=True)

    def raw_line(self, text: str) -> None:
        """
        A line that is not a JSON event: the text-mode greeting, which
        precedes our C{/mode json}; nothing to show.
        """

    def event_received(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "prompt":
            if self.name:
                self.submit_name(self.name)
            else:
                self.view.ask_name()
            return
        if kind == "error" and not self._joined and event.get("code") in NAME_ERRORS:
            self.view.error(f"ERROR: {event.get('text', '')}")
            self.name = None
            self.view.ask_name()
            return
        if kind == "mode":
            return
        if kind == "welcome":
            self._joined = True
            self.name = event.get("name", self.name)
            self.users = set(event.get("users") or ())
            self._set_status(name=self.name, users=int(event.get("count", 0)))
        elif kind == "join":
            self.users.add(event.get("name", ""))
            self._set_status(users=self._status.users + 1)
        elif kind == "leave":
            self.users.discard(event.get("name", ""))
            self._set_status(users=max(0, self._status.users - 1))
        elif kind == "users":
            self.users = set(event.get("users") or ())
            self._set_status(users=len(self.users))
        elif kind in ("message", "private", "action") and self.shift_cipher:
            text, shifted = cipher.decode(str(event.get("text", "")))
            if shifted:
                event = {**event, "text": text, "shifted": True}
        if kind == "error":
            self.view.error(f"ERROR: {event.get('text', '')}")
        else:
            self.view.show(event)
        if kind == "welcome":
            self._flush()

    def _flush(self) -> None:
        protocol = self._protocol
        while self._pending and protocol is not None:
            protocol.send(self._pending.popleft())
        if self._quit_when_flushed:
            self.quit(self._quit_reason or "")

    def connection_lost(self, protocol: ClientProtocol, reason: Failure) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        self._joined = False
        self._set_status(connected=False)
        if self._quitting:
            if self._quit_deadline is not None:
                self.stop(0)
            return
        if self._status.tls and not protocol.handshake_done:
            self.view.error(
                "ERROR: TLS failed, not connecting without it: "
                f"{reason.getErrorMessage()}"
            )
            self.stop(1)
            return
        self.view.notice(f"connection lost ({reason.getErrorMessage()}); reconnecting")

    def _set_status(self, **changes: Any) -> None:
        self._status = replace(self._status, **changes)
        self.view.status_changed(self._status)

    @property
    def status(self) -> Status:
        return self._status

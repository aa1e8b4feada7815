# -*- test-case-name: tests.e2e.test_client -*-
"""
The C{chat-client} command: options, endpoints, and choosing a front end.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from functools import partial
from typing import Any

from twisted.internet import ssl, stdio
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    clientFromString,
    wrapClientTLS,
)
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.task import react
from twisted.internet.threads import deferToThreadPool
from twisted.python import usage

from chat.client.script import ScriptView, StdinReader
from chat.client.session import ClientSession

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 55555
PASSWORD_ENV = "CHAT_PASSWORD"
_PEM = re.compile(
    rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL
)


DESCRIPTION = """\
The txchat client. On a terminal it is full-screen; when stdin is not a
terminal (or with --plain) it sends each input line as typed, prints each
event as one line on stdout (errors on stderr) and quits at the end of input.

Besides the server's commands (/help lists them) the client understands
CONNECT, SEND <message>, QUIT (also q, tata, /quit, Ctrl-D),
/connect [HOST [PORT]], and for files /send NAME|#room PATH,
/accept ID [DIR], /decline ID and /cancel ID. It connects by itself;
CONNECT while connecting or connected changes nothing. With --no-connect
it waits for CONNECT and, while not connected, answers anything else with
"ERROR: Please use the CONNECT, SEND <message>, and QUIT commands."
"""

EPILOG = """\
A registered name needs its password. On a terminal the client asks for it
(without echo); scripts give it with --password-file FILE or the
CHAT_PASSWORD environment variable. There is deliberately no --password
option: command lines are visible to every local user (ps) and kept in
shell history. Without TLS the password travels in clear.

--shift-cipher is obfuscation, NOT security: anyone can undo it. Use TLS
(--tls, --cafile) to keep conversations private.
"""


class ClientOptions(dict[str, Any]):
    """
    Parsed C{chat-client} options, as a dict (like L{usage.Options}).
    """

    def __init__(self, argv: list[str]) -> None:
        super().__init__(vars(_parser().parse_args(argv)))
        if self["cafile"] and self["connect"]:
            raise usage.UsageError(
                "--cafile goes with HOST PORT --tls; a tls: endpoint takes "
                "trustRoots=DIRECTORY instead"
            )
        if self.pop("password_option") is not None:
            # Refused without echoing the value: it is a password.
            raise usage.UsageError(
                f"there is no --password option (command lines show in ps and "
                f"shell history); use --password-file FILE or {PASSWORD_ENV}"
            )
        if self["cafile"]:
            self["tls"] = True
        if not os.path.isdir(os.path.expanduser(self["download_dir"])):
            raise usage.UsageError(
                f"--download-dir {self['download_dir']} is not a directory"
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-client",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("host", nargs="?", default=DEFAULT_HOST, metavar="HOST")
    parser.add_argument(
        "port", nargs="?", type=int, default=DEFAULT_PORT, metavar="PORT"
    )
    parser.add_argument("-n", "--name", help="your name (asked for if not given)")
    parser.add_argument(
        "-c",
        "--connect",
        metavar="ENDPOINT",
        help="a Twisted client endpoint instead of HOST PORT, e.g. "
        "tls:chat.example.org:55556",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="connect with TLS, verifying the server certificate and host name",
    )
    parser.add_argument(
        "--cafile",
        metavar="FILE",
        help="PEM certificates to trust instead of the system roots (implies --tls)",
    )
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        help="read the password of a registered --name from the first line of "
        f"FILE (or set {PASSWORD_ENV}); there is no password option because "
        "command lines show in ps and shell history",
    )
    # Only to refuse it with a reason (and so that argparse does not take
    # --password as an abbreviation of --password-file).
    parser.add_argument("--password", dest="password_option", help=argparse.SUPPRESS)
    parser.add_argument(
        "--shift-cipher",
        action="store_true",
        help="shift the letters you send (abc -> bcd) and unshift shifted "
        "messages you receive; obfuscation, not security",
    )
    parser.add_argument(
        "--plain", action="store_true", help="scriptable line mode even on a terminal"
    )
    # Mentions (issue 16, "mentions").
    parser.add_argument(
        "--no-bell",
        dest="bell",
        action="store_false",
        help="do not ring the terminal bell when a message names you in a "
        "conversation not in view",
    )
    parser.add_argument(
        "--download-dir",
        metavar="DIR",
        default=".",
        help="where accepted files are saved (default: the current directory)",
    )
    parser.add_argument(
        "--auto-accept",
        action="store_true",
        help="receive every file offered without asking (for scripts)",
    )
    parser.add_argument(
        "--no-connect",
        action="store_true",
        help="do not connect until CONNECT (or /connect) is typed, as seed "
        "003's client; until then anything else is refused",
    )
    return parser


def read_password(
    options: ClientOptions, environ: Mapping[str, str] = os.environ
) -> str | None:
    """
    The password given for the name: the first line of C{--password-file}
    (its line end removed), else C{$CHAT_PASSWORD}, else C{None}.

    @raise usage.UsageError: if the file cannot be read or its first line
        is empty.
    """
    path = options["password_file"]
    if path is None:
        return environ.get(PASSWORD_ENV) or None
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError) as e:
        raise usage.UsageError(f"cannot read --password-file {path}: {e}") from None
    password = first.rstrip("\r\n")
    if not password:
        raise usage.UsageError(f"no password on the first line of {path}")
    return password


def trust_root(cafile: str | None) -> Any:
    """
    The certificates to trust: those in C{cafile}, or the platform's.
    """
    if cafile is None:
        return ssl.platformTrust()
    with open(cafile, "rb") as f:
        blocks = _PEM.findall(f.read())
    if not blocks:
        raise usage.UsageError(f"no PEM certificate in {cafile}")
    return ssl.trustRootFromCertificates(
        [ssl.Certificate.loadPEM(block) for block in blocks]
    )


def make_endpoint(
    reactor: Any, options: ClientOptions, host: str, port: int
) -> tuple[IStreamClientEndpoint, str]:
    """
    The endpoint for C{host}:C{port} under C{options}, and its label.
    """
    endpoint: IStreamClientEndpoint = HostnameEndpoint(reactor, host, port)
    if options["tls"]:
        tls_options = ssl.optionsForClientTLS(
            host, trustRoot=trust_root(options["cafile"])
        )
        endpoint = wrapClientTLS(tls_options, endpoint)
    return endpoint, f"{host}:{port}"


def _run(reactor: Any, options: ClientOptions, interactive: bool) -> Deferred[None]:
    if options["connect"]:
        endpoint = clientFromString(reactor, options["connect"])
        label = options["connect"]
        tls = label.startswith(("tls:", "ssl:"))
    else:
        endpoint, label = make_endpoint(
            reactor, options, options["host"], options["port"]
        )
        tls = bool(options["tls"])
    view: Any
    if interactive:
        from chat.client.tui import TUIView

        view = TUIView(reactor, bell=options["bell"])
    else:
        view = ScriptView()
    session = ClientSession(
        view,
        endpoint,
        server=label,
        tls=tls,
        clock=reactor,
        name=options["name"],
        shift_cipher=bool(options["shift_cipher"]),
        interactive=interactive,
        password=options.get("password"),
        endpoint_for=lambda host, port: make_endpoint(reactor, options, host, port),
        download_dir=options["download_dir"],
        auto_accept=bool(options["auto_accept"]),
        run_in_thread=partial(deferToThreadPool, reactor, reactor.getThreadPool()),
    )
    view.session = session
    done: Deferred[None] = Deferred()

    def finished(code: int) -> None:
        if code:
            done.errback(SystemExit(code))
        else:
            done.callback(None)

    view.when_finished(finished)
    if interactive:
        view.start()
    else:
        stdio.StandardIO(StdinReader(view, session), reactor=reactor)
    if options["no_connect"]:
        session.wait_for_connect()
    else:
        session.start()
    return done


def main(argv: list[str] | None = None) -> None:
    """
    Entry point of the C{chat-client} console script.
    """
    try:
        options = ClientOptions(sys.argv[1:] if argv is None else argv)
        options["password"] = read_password(options)
    except usage.UsageError as e:
        sys.stderr.write(f"ERROR: {e}\n")
        raise SystemExit(2) from None
    interactive = not options["plain"] and sys.stdin.isatty() and sys.stdout.isatty()
    react(_run, (options, interactive))


__all__ = ["ClientOptions", "IReactorTime", "main", "make_endpoint", "read_password"]

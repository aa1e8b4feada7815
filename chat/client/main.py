# -*- test-case-name: tests.test_client_e2e -*-
"""
The C{chat-client} command: options, endpoints, and choosing a front end.
"""

from __future__ import annotations

import argparse
import re
import sys
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
from twisted.python import usage

from chat.client.script import ScriptView, StdinReader
from chat.client.session import ClientSession

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 55555
_PEM = re.compile(
    rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL
)


DESCRIPTION = """\
The txchat client. On a terminal it is full-screen; when stdin is not a
terminal (or with --plain) it sends each input line as typed, prints each
event as one line on stdout (errors on stderr) and quits at the end of input.

Besides the server's commands (/help lists them) the client understands
CONNECT, SEND <message>, QUIT (also q, tata, /quit, Ctrl-D) and
/connect [HOST [PORT]].
"""

EPILOG = """\
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
        if self["cafile"]:
            self["tls"] = True


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
        "--shift-cipher",
        action="store_true",
        help="shift the letters you send (abc -> bcd) and unshift shifted "
        "messages you receive; obfuscation, not security",
    )
    parser.add_argument(
        "--plain", action="store_true", help="scriptable line mode even on a terminal"
    )
    return parser


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

        view = TUIView(reactor)
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
        endpoint_for=lambda host, port: make_endpoint(reactor, options, host, port),
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
    session.start()
    return done


def main(argv: list[str] | None = None) -> None:
    """
    Entry point of the C{chat-client} console script.
    """
    try:
        options = ClientOptions(sys.argv[1:] if argv is None else argv)
    except usage.UsageError as e:
        sys.stderr.write(f"ERROR: {e}\n")
        raise SystemExit(2) from None
    interactive = not options["plain"] and sys.stdin.isatty() and sys.stdout.isatty()
    react(_run, (options, interactive))


__all__ = ["ClientOptions", "IReactorTime", "main", "make_endpoint"]

# -*- test-case-name: tests.test_tap -*-
"""
The C{twistd chat} plugin: options and service wiring.
"""

from __future__ import annotations

import os
from typing import cast

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.internet.endpoints import quoteStringArgument
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.python import usage

from chat.protocol import ChatFactory

DEFAULT_LISTEN = "tcp:55555"


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{value} is not a positive number")
    return number


_positive.coerceDoc = "Must be a positive whole number."  # type: ignore[attr-defined]


class Options(usage.Options):
    """
    Options for C{twistd chat}.
    """

    synopsis = "[--listen ENDPOINT]... [--tls-cert FILE --tls-key FILE] [options]"
    longdesc = (
        "A multi-user chat server for nc, telnet, openssl s_client and "
        "chat-client. Every --listen shares one set of users, so TLS and "
        "plain-TCP users talk to each other."
    )
    optParameters = [
        [
            "tls-cert",
            None,
            None,
            "PEM certificate (chain) for a TLS listener on --tls-port.",
        ],
        ["tls-key", None, None, "PEM private key for --tls-cert."],
        ["tls-port", None, 55556, "Port of the --tls-cert listener.", _positive],
        [
            "max-line-length",
            None,
            4096,
            "Longest accepted line in bytes; longer lines are refused.",
            _positive,
        ],
        [
            "send-queue",
            None,
            1024 * 1024,
            "Bytes of output that may wait for a client that stopped reading "
            "before it is disconnected.",
            _positive,
        ],
        [
            "announce-limit",
            None,
            200,
            "Join and leave notices go to everyone only while at most this "
            "many users are online.",
            int,
        ],
        [
            "log-rate",
            None,
            100,
            "Log at most this many connection events (connects, joins, "
            "leaves, refused requests) a second, then a count of the rest; "
            "0: no limit.",
            int,
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def opt_listen(self, description: str) -> None:
        """
        Listen on a Twisted endpoint (repeatable), e.g. tcp:55555 or
        ssl:55556:privateKey=key.pem:certKey=cert.pem [default: tcp:55555]
        """
        self["listen"].append(description)

    def postOptions(self) -> None:
        cert, key = self["tls-cert"], self["tls-key"]
        if (cert is None) != (key is None):
            raise usage.UsageError("--tls-cert and --tls-key must be given together")
        if cert is not None:
            for path in (cert, key):
                if not os.path.isfile(path):
                    raise usage.UsageError(f"no such file: {path}")
            self["listen"].append(
                "ssl:{}:privateKey={}:certKey={}".format(
                    self["tls-port"],
                    quoteStringArgument(key),
                    quoteStringArgument(cert),
                )
            )
        if not self["listen"]:
            self["listen"].append(DEFAULT_LISTEN)


def makeService(options: Options, reactor: IReactorCore | None = None) -> MultiService:
    """
    One listening service per C{--listen}, all sharing one L{ChatFactory}.
    """
    if reactor is None:
        from twisted.internet import reactor as _reactor

        reactor = cast(IReactorCore, _reactor)
    factory = ChatFactory(
        clock=cast(IReactorTime, reactor),
        max_line_length=options["max-line-length"],
        send_queue_limit=options["send-queue"],
        announce_limit=options["announce-limit"],
        log_rate=options["log-rate"],
    )
    parent = MultiService()
    for description in options["listen"]:
        strports.service(description, factory, reactor=reactor).setServiceParent(parent)
    return parent

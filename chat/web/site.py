# -*- test-case-name: tests.web.test_site -*-
"""
The web door's site: the browser client's static files, the WebSocket at
C{/ws} and files at C{/files/}, with security headers on every response;
and the service that listens for it (C{--web}).
"""

from __future__ import annotations

from importlib.resources import files as package_files
from pathlib import Path
from typing import Any, Final

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import SSL4ServerEndpoint
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.iweb import IRequest
from twisted.web.resource import ForbiddenResource, IResource, Resource
from twisted.web.server import Request, Site
from twisted.web.static import File, NoRangeStaticProducer

from chat.core.admission import DESCRIPTOR_RESERVE, address_key
from chat.lines.protocol import describe
from chat.web._websocket import CountedChannel, GuardedResource, counted_channel
from chat.web.door import WebDoor
from chat.web.files import WebFiles

_log: Final = Logger(namespace="chat.web")

#: What every response says: no script, style or connection but the
#: page's own, no framing, no sniffing, no referrer (issue 17).
SECURITY_HEADERS: Final = (
    (
        b"Content-Security-Policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; "
        b"img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
        b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"no-referrer"),
    (b"Cross-Origin-Opener-Policy", b"same-origin"),
)
#: Seconds an HTTP connection may sit idle (a WebSocket is not idle: the
#: door pings it).
HTTP_TIMEOUT: Final = 60
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}


def static_directory() -> Path:
    """
    The browser client's files, installed inside the package.
    """
    return Path(str(package_files("chat.web").joinpath("static")))


class _AtOnce(NoRangeStaticProducer):
    """
    A whole static file written at once: the client's files are small, and
    a pull producer would wait for the global cooperator for each.
    """

    def start(self) -> None:
        while self.request is not None:
            self.resumeProducing()


class _Static(File):
    """
    The client's files: no directory listings, no caching stale code.
    """

    contentTypes = _TYPES

    def makeProducer(self, request: Request, fileForReading: Any) -> Any:
        producer = super().makeProducer(request, fileForReading)
        if type(producer) is NoRangeStaticProducer:
            return _AtOnce(request, fileForReading)
        return producer

    def directoryListing(self) -> IResource:
        return ForbiddenResource("no listing")

    def render_GET(self, request: Request) -> bytes | int:
        request.setHeader(b"cache-control", b"no-cache")
        return super().render_GET(request)  # type: ignore[no-any-return]


class Root(Resource):
    """
    The site's root: sets the security headers on every request that
    reaches a resource, then serves C{/ws}, C{/files} or a static file.
    """

    def __init__(self, static: Path, ws: IResource, files: IResource) -> None:
        super().__init__()
        self._static = _Static(str(static), defaultType="application/octet-stream")
        self._children = {b"ws": ws, b"files": files}

    def getChildWithDefault(self, path: bytes, request: IRequest) -> IResource:
        for name, value in SECURITY_HEADERS:
            request.setHeader(name, value)
        child = self._children.get(path)
        if child is not None:
            return child
        return self._static.getChildWithDefault(path, request)  # type: ignore[no-any-return]


class WebSite(Site):
    """
    Twisted's site, logging each request through the core's log limiter
    (a flood of requests cannot flood the log), without its query string
    (where a download's token is) and with the path's control characters
    escaped; and bounding the HTTP connections one address may hold open
    (L{per_address}, twice the sessions it may have: a browser opens a few
    for a page's files besides its WebSocket), and all of them together
    short of the descriptor limit, so that idle HTTP connections cannot
    take the descriptors every door needs.
    """

    protocol = staticmethod(counted_channel)

    def __init__(self, root: Resource, door: WebDoor) -> None:
        super().__init__(root, timeout=HTTP_TIMEOUT, reactor=door.clock)
        self.displayTracebacks = False
        self._door = door
        self.per_address = 2 * door.core.limits.connections_per_address
        # Open HTTP connections (WebSockets included) by address key.
        self._open: dict[str, int] = {}
        self._total = 0

    def buildProtocol(self, addr: IAddress | None) -> CountedChannel | None:
        core = self._door.core
        admission = core.admission
        host = str(getattr(addr, "host", ""))
        key = None if admission.is_exempt(host) else address_key(host)
        why = None
        limit = admission.descriptors
        if limit is not None and (
            len(admission) + self._total + DESCRIPTOR_RESERVE >= limit
        ):
            why = "as many connections as the server can take"
        elif key is not None and self._open.get(key, 0) >= self.per_address:
            why = f"{self.per_address} HTTP connections open from its address"
        if why is not None:
            core.security_log.warn(
                _log,
                "refused an HTTP connection from {peer}: {why}",
                peer=describe(addr),
                why=why,
            )
            return None  # Twisted closes it
        protocol = super().buildProtocol(addr)
        assert isinstance(protocol, CountedChannel)
        self._total += 1
        if key is not None:
            self._open[key] = self._open.get(key, 0) + 1

        protocol.counter = self
        protocol.key = key
        return protocol

    def release(self, key: str | None) -> None:
        """
        A connection counted under C{key} closed.
        """
        self._total -= 1
        if key is not None:
            left = self._open[key] - 1
            if left:
                self._open[key] = left
            else:
                del self._open[key]

    def log(self, request: http.Request) -> None:
        path = request.path.decode("utf-8", "replace")
        self._door.core.log_limiter.info(
            _log,
            "{peer} {method} {path} {code}",
            peer=describe(request.getClientAddress()),
            method=request.method.decode("ascii", "replace"),
            path=path,
            code=request.code,
        )


def make_site(door: WebDoor, files: WebFiles, static: Path | None = None) -> Site:
    """
    The site of the web door: C{/ws} on C{door}, C{/files} from C{files}.

    @param static: the client's files [default: L{static_directory}].
    """
    ws = GuardedResource(door)
    root = Root(static or static_directory(), ws, files.resource)
    site = WebSite(root, door)
    files.install(site)
    return site


def url(port: IListeningPort, secure: bool) -> str:
    """
    Where a browser opens the client served on C{port}.
    """
    address = port.getHost()
    host = getattr(address, "host", "localhost")
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    scheme = "https" if secure else "http"
    return f"{scheme}://{host}:{getattr(address, 'port', 0)}/"


class WebService(Service):
    """
    Listens for the site on one C{--web} endpoint, and says where in the
    log (C{txchat web client on http://HOST:PORT/}).  A port that cannot
    be bound fails L{startService} at once, as the line listeners do.
    """

    def __init__(
        self, endpoint: IStreamServerEndpoint, site: Site, door: WebDoor
    ) -> None:
        self.endpoint = endpoint
        self.site = site
        self.door = door
        self.port: IListeningPort | None = None

    def startService(self) -> None:
        Service.startService(self)
        results: list[IListeningPort | Failure] = []
        self.endpoint.listen(self.site).addBoth(results.append)
        if not results:
            raise RuntimeError("the web endpoint did not listen at once")
        [result] = results
        if isinstance(result, Failure):
            self.running = False
            result.raiseException()
        assert not isinstance(result, Failure)
        self.port = result
        self.door.start()
        secure = isinstance(self.endpoint, SSL4ServerEndpoint)
        _log.info("txchat web client on {url}", url=url(result, secure))

    def stopService(self) -> Deferred[None] | None:
        Service.stopService(self)
        self.door.stop()
        port, self.port = self.port, None
        if port is None:
            return None
        return port.stopListening()

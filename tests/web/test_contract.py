"""
The door contract (L{tests.door_contract}) through the web door: a driver
whose clients are browser tabs sending the text syntax, one line a
WebSocket message, and reading back one JSON object a message.
"""

from __future__ import annotations

import json
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from chat.core.core import ChatCore
from chat.core.limits import Limits
from chat.store.spool import MemorySpool
from chat.web.door import WebDoor
from chat.web.files import WebFiles
from chat.web.site import make_site
from tests.door_contract import DoorContract, Driver, Seen
from tests.lines.test_contract import LineClient, read_json
from tests.support import START, SlowStore, fake_hasher, many_per_address
from tests.web.support import MemoryWebClient


class WebClient(LineClient):
    """
    A tab: what a user types, one line a message, into the web door.
    """

    def __init__(self, driver: WebDriver, tab: MemoryWebClient, exempt: bool) -> None:
        self._driver = driver  # type: ignore[assignment]
        self._tab = tab
        tab.connection(driver.door).session.exempt = exempt

    def _send(self, line: str) -> None:
        self._tab.send(line)

    def received(self) -> list[Seen]:
        seen = [read_json(json.dumps(event)) for event in self._tab.received()]
        return [s for s in seen if s.kind not in ("mode", "web-files")]

    @property
    def closed(self) -> bool:
        return bool(self._tab.transport.disconnecting)


class WebDriver:
    """
    The web door on a core as the server builds it (L{SlowStore}
    answering at once until told otherwise).
    """

    def __init__(self, directory: str) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.store = SlowStore()
        self.store.holding = False
        self.core = ChatCore(
            self.clock,
            self.store,
            MemorySpool(),
            fake_hasher(),
            limits=many_per_address(Limits()),
        )
        self.core.start()
        files = WebFiles(self.core)
        self.door = WebDoor(self.core, files=files)
        static = Path(directory)
        static.mkdir()
        self.site = make_site(self.door, files, static)
        self._port = 40000

    def connect(self, peer: str = "192.0.2.1", *, exempt: bool = False) -> WebClient:
        self._port += 1
        tab = MemoryWebClient(self.site, self.clock, peer, self._port)
        return WebClient(self, tab, exempt)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


class WebContractTests(DoorContract, SynchronousTestCase):
    """
    The door contract through the web door, as the browser client reads
    it.
    """

    def make_driver(self) -> Driver:
        return WebDriver(self.mktemp())

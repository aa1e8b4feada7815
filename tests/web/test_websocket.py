"""
Tests for L{chat.web._websocket}: the private parts of Twisted it uses are
still there (a Twisted upgrade that moves them fails here, loudly).
"""

from __future__ import annotations

from twisted.python.reflect import namedAny
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import HTTPChannel

from chat.web._websocket import PRIVATE_NAMES, GuardedWire


class PrivateNamesTests(SynchronousTestCase):
    """
    What L{GuardedWire} and L{chat.web._websocket.GuardedResource} rely on.
    """

    def test_names(self) -> None:
        """
        Every private name is importable.
        """
        for name in PRIVATE_NAMES:
            self.assertIsNotNone(namedAny(name), name)

    def test_wire_attributes(self) -> None:
        """
        The wire protocol still keeps its wsproto connection, its protocol
        and transport where L{GuardedWire} reads them.
        """
        fields = GuardedWire.__dataclass_fields__
        for name in ("_wsconn", "_bootstrap", "_wsp", "transport"):
            self.assertIn(name, fields)
        self.assertTrue(callable(HTTPChannel._protocolUpgradeForWebsockets))
        self.assertEqual(HTTPChannel().requests, [])

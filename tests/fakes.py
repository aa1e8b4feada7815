"""
Test doubles for the chat core's seams.
"""

from __future__ import annotations

from zope.interface import implementer

from chat.errors import BadUsage
from chat.events import Event
from chat.registry import IChatClient


@implementer(IChatClient)
class FakeClient:
    """
    An L{IChatClient} that records what the core tells it.
    """

    def __init__(self) -> None:
        self.name: str | None = None
        self.events: list[Event] = []
        self.mode = "text"
        self.disconnected = False

    def deliver(self, event: Event) -> None:
        self.events.append(event)

    def set_mode(self, mode: str) -> None:
        if mode not in ("text", "json"):
            raise BadUsage(f"unknown mode {mode}")
        self.mode = mode

    def disconnect(self) -> None:
        self.disconnected = True

    def take(self) -> list[Event]:
        """
        The events delivered since the last call.
        """
        events, self.events = self.events, []
        return events

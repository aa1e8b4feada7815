# -*- test-case-name: tests.core.test_delivery -*-
"""
Broadcasts: the L{IFanOut} seam and L{LocalFanOut}, which hands them to
this process's L{Delivery}.

A server of several nodes would implement L{IFanOut} by publishing each
broadcast (Redis pub/sub, say) and delivering what the other nodes publish
to its own clients; handlers only ever broadcast through this interface.
"""

from __future__ import annotations

from zope.interface import Interface, implementer

from chat.core.client import Client
from chat.core.delivery import Delivery
from chat.core.presence import IPresence
from chat.events import Event


class IFanOut(Interface):
    """
    Send an event to many clients.
    """

    def to_everyone(event: Event, sender: Client | None) -> None:
        """
        Everyone online but C{sender} gets C{event}.
        """

    def to_room(
        room: str, members: tuple[Client, ...], event: Event, sender: Client | None
    ) -> None:
        """
        Every member of the room C{room} (its key) online but C{sender} gets
        C{event}; C{members} are those of this node, a tuple the room keeps.
        """


@implementer(IFanOut)
class LocalFanOut:
    """
    Broadcasts within this process: everyone is in L{IPresence}, and a
    room's members are the ones it was given.
    """

    def __init__(self, presence: IPresence, delivery: Delivery) -> None:
        self._presence = presence
        self._delivery = delivery

    def to_everyone(self, event: Event, sender: Client | None) -> None:
        self._delivery.broadcast(event, self._presence.everyone(), sender)

    def to_room(
        self,
        room: str,
        members: tuple[Client, ...],
        event: Event,
        sender: Client | None,
    ) -> None:
        self._delivery.broadcast(event, members, sender)

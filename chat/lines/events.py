# -*- test-case-name: tests.lines.test_render -*-
"""
Events of the line door's own: replies to requests it answers itself
(C{/help}, C{/mode}), rendered like the core's events.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.events import Event


@dataclass(slots=True, eq=False)
class CommandHelp:
    """
    One line of C{/help}.
    """

    usage: str
    description: str
    aliases: tuple[str, ...] = ()


@dataclass(slots=True, eq=False)
class Help(Event):
    """
    The answer to C{/help}.
    """

    commands: tuple[CommandHelp, ...]


@dataclass(slots=True, eq=False)
class ModeChanged(Event):
    """
    The connection's output format changed (C{/mode json}, C{/mode text}).
    """

    mode: str

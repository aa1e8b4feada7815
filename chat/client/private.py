# -*- test-case-name: tests.client.test_private -*-
"""
Filling a private conversation with its past (issue 16): the first time
this run the user talks with someone, the server is asked for their last
messages (C{/history NAME N}), and the answer is shown in that
conversation, less what was shown live meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from chat.core.names import fold

#: How many past messages fill a private conversation when it opens.
PRIVATE_PAST: Final = 50
#: The error a guest, or a conversation with a guest, gets.
NO_HISTORY: Final = "no-private-history"


@dataclass
class _Asked:
    """
    A request under way: the replay gathered so far, and the messages
    shown live since the request (the one that opened the conversation
    first), which the replay leaves out.
    """

    replay: list[dict[str, Any]] = field(default_factory=list)
    live: list[tuple[str, str]] = field(default_factory=list)


class PrivatePast:
    """
    Which private conversations were filled, and the requests under way.

    Only a view that shows private conversations apart (the full-screen
    view) has their past asked for: C{enabled} says whether the view now
    is one.
    """

    def __init__(
        self,
        send: Callable[[str], None],
        enabled: Callable[[], bool],
        count: int = PRIVATE_PAST,
    ) -> None:
        self._send = send
        self._enabled = enabled
        self._count = count
        # Correspondents (folded) whose past was asked for this run.
        self._filled: set[str] = set()
        # Requests not answered yet, in the order sent (answers come in
        # order), by folded name.
        self._asked: dict[str, _Asked] = {}

    def reset(self) -> None:
        """
        A new connection: requests of the last one will not be answered;
        a conversation whose past did not come is asked for again.
        """
        for key in self._asked:
            self._filled.discard(key)
        self._asked.clear()

    def received(self, sender: str, text: str) -> None:
        """
        A private message from C{sender} is being shown: the first from or
        to C{sender} asks for their past.  The server kept it before it
        sent it, so the replay has it too and leaves it out; so for those
        that come while the replay is under way.
        """
        key = fold(sender)
        asked = self._asked.get(key)
        if asked is not None:
            asked.live.append((key, text))
        elif self._ask(sender):
            self._asked[key].live.append((key, text))

    def sent(self, recipient: str) -> None:
        """
        The user is sending a private message to C{recipient}, after this
        request: the server answers it first, so the replay has not the
        message.
        """
        if fold(recipient) not in self._asked:
            self._ask(recipient)

    def opened(self, other: str) -> None:
        """
        The user opened a conversation with C{other} before either said
        anything in it (C{/go NAME}): its past is asked for now.
        """
        if fold(other) not in self._asked:
            self._ask(other)

    def _ask(self, other: str) -> bool:
        key = fold(other)
        if not other or key in self._filled or not self._enabled():
            return False
        self._filled.add(key)
        self._asked[key] = _Asked()
        self._send(f"/history {other} {self._count}")
        return True

    def answer(self, event: dict[str, Any]) -> list[dict[str, Any]] | None:
        """
        An event from the server: if it answers a request of ours, what to
        show instead (nothing until the replay ends); else L{None}.
        """
        kind = event.get("type")
        if kind == "error" and event.get("code") == NO_HISTORY and self._asked:
            # A guest, or a guest correspondent: nothing to fill it with.
            del self._asked[next(iter(self._asked))]
            return []
        other = event.get("with")
        if not isinstance(other, str):
            return None
        asked = self._asked.get(fold(other))
        if asked is None:
            return None
        if kind == "private" and event.get("history") is True:
            asked.replay.append(event)
            return []
        if kind != "history-end":
            return None
        del self._asked[fold(other)]
        replay = asked.replay
        for sender, text in asked.live:
            # The newest entry matching it is the one shown live.
            for i in range(len(replay) - 1, -1, -1):
                entry = replay[i]
                if fold(str(entry.get("from"))) == sender and entry.get("text") == text:
                    del replay[i]
                    break
        if not replay:
            return []
        return [*replay, {**event, "count": len(replay)}]

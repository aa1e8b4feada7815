# -*- test-case-name: tests.test_client_session -*-
"""
Plain one-line renderings of server events, from their fields (never by
parsing the server's human text).
"""

from __future__ import annotations

from typing import Any


def _names(users: Any) -> str:
    return ", ".join(str(u) for u in users or ())


def plain(event: dict[str, Any]) -> str | None:
    """
    The line a person or a script reads for C{event}, or C{None} for events
    that show nothing.
    """
    kind = event.get("type")
    sender = event.get("from")
    text = event.get("text", "")
    match kind:
        case "message":
            return f"{sender}: {text}"
        case "private":
            return f"[private] {sender}: {text}"
        case "action":
            return f"* {sender} {text}"
        case "join":
            return f"* {event.get('name')} joined"
        case "leave":
            reason = event.get("reason")
            suffix = f" ({reason})" if reason else ""
            return f"* {event.get('name')} left{suffix}"
        case "welcome":
            users = event.get("users") or []
            count = event.get("count", len(users))
            listed = f": {_names(users)}" if users else ""
            return f"* joined as {event.get('name')}; {count} online{listed}"
        case "users":
            users = event.get("users") or []
            return f"* online ({len(users)}): {_names(users)}"
        case "help":
            return str(text)
        case "mode" | "prompt" | "goodbye":
            return None
        case "error":
            return f"ERROR: {text}"
    return str(text) if text else None

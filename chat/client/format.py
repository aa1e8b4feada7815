# -*- test-case-name: tests.test_client_session -*-
"""
Plain one-line renderings of server events, from their fields (never by
parsing the server's human text).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _names(users: Any) -> str:
    return ", ".join(str(u) for u in users or ())


def when(event: dict[str, Any]) -> datetime | None:
    """
    The event's C{time} (ISO 8601, UTC), or C{None} if missing or malformed.
    """
    iso = event.get("time")
    if not isinstance(iso, str):
        return None
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _at(event: dict[str, Any], layout: str) -> str:
    moment = when(event)
    return "?" if moment is None else moment.astimezone(UTC).strftime(layout)


def _plural(count: Any, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


_ACCOUNT = {
    "registered": "* {name} is now registered; it needs your password from now on",
    "password-changed": "* the password of {name} was changed",
    "unregistered": "* {name} is no longer registered",
}
_IN_CLEAR = " (warning: the password travelled in clear, without TLS)"


def _said(event: dict[str, Any]) -> str:
    sender, text = event.get("from"), event.get("text", "")
    if event.get("type") == "action" or event.get("action") is True:
        return f"* {sender} {text}"
    return f"{sender}: {text}"


def plain(event: dict[str, Any]) -> str | None:
    """
    The line a person or a script reads for C{event}, or C{None} for events
    that show nothing.  Stored and history messages are marked with the
    time (UTC) they were sent.
    """
    kind = event.get("type")
    sender = event.get("from")
    text = event.get("text", "")
    if kind in ("message", "action") and event.get("history"):
        return f"[history {_at(event, '%H:%M')}] {_said(event)}"
    match kind:
        case "message":
            return f"{sender}: {text}"
        case "private" if event.get("stored"):
            return f"[stored, sent {_at(event, '%Y-%m-%d %H:%M')}] {_said(event)}"
        case "private":
            return f"[private] {sender}: {text}"
        case "action":
            return f"* {sender} {text}"
        case "queued":
            return f"* {event.get('to')} is offline; your message was stored for them"
        case "account" if event.get("action") in _ACCOUNT:
            line = _ACCOUNT[event["action"]].format(name=event.get("name"))
            return line + (_IN_CLEAR if event.get("insecure") else "")
        case "stored-end":
            count = event.get("count")
            if not count:
                return None
            return f"* {_plural(count, 'message was', 'messages were')} waiting for you"
        case "history-end":
            count = event.get("count")
            if not count:
                return "* no history yet"
            return f"* end of history ({_plural(count, 'message', 'messages')})"
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

# -*- test-case-name: tests.lines.test_commands -*-
"""
The line door's slash commands onto the core's session API
(L{SlashCommands}), and the list C{/help} shows.

Only the syntax lives here: words, numbers, which argument is which, and
the usage line shown when they are missing.  What the values may be (a
name, a room, a password, a count) is the core's to decide, for every
door alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from chat.core.limits import Limits
from chat.core.session import Session
from chat.errors import BadUsage, UnknownCommand
from chat.lines.events import CommandHelp

# Resume (issue 16): /since ID before the name, /join #room ID.
SINCE_USAGE: Final = "usage: /since ID, the last history id you have (a whole number)"
_JOIN_USAGE: Final = "usage: /join #room [ID], ID the last history id you have of it"


def parse_history_id(text: str, usage: str = SINCE_USAGE) -> int:
    """
    A history id a client gives: ASCII digits only, at most 18 of them.

    @raise BadUsage: with C{usage} if C{text} is anything else.
    """
    text = text.strip()
    if not text or len(text) > 18 or not (text.isascii() and text.isdigit()):
        raise BadUsage(usage)
    return int(text)


COMMANDS: Final = (
    CommandHelp("/help", "list the commands"),
    CommandHelp("/users", "list who is online", ("/who",)),
    CommandHelp("/dm NAME TEXT", "send TEXT to NAME only", ("/msg", "NAME*TEXT")),
    CommandHelp("/bm TEXT", "send TEXT to everyone", ("ALL*TEXT", "a plain line")),
    CommandHelp("/me ACTION", "tell everyone what you are doing"),
    CommandHelp("/history [N]", "show the last N messages (default 20)"),
    CommandHelp("/history NAME [N]", "your last N private messages with NAME"),
    CommandHelp(
        "/join #ROOM [ID]",
        "join a room, creating it if needed; with ID, its history after that id",
    ),
    CommandHelp("/leave #ROOM [REASON]", "leave a room", ("/part",)),
    CommandHelp("/say #ROOM TEXT", "send TEXT to a room", ("#ROOM*TEXT",)),
    CommandHelp("/rooms", "list the rooms"),
    CommandHelp("/who #ROOM", "list a room's members"),
    CommandHelp("/history #ROOM [N]", "show a room's last N messages"),
    CommandHelp("/topic #ROOM [TEXT]", "show or set a room's topic"),
    CommandHelp("/mode #ROOM +i|-i", "make a room invite-only, or open (owner)"),
    CommandHelp("/invite NAME #ROOM", "invite NAME to a room (operators)"),
    CommandHelp("/kick NAME #ROOM [REASON]", "put NAME out of a room (operators)"),
    CommandHelp("/op NAME #ROOM", "make NAME an operator (owner)", ("/deop",)),
    CommandHelp("/register PASSWORD", "reserve your name with a password"),
    CommandHelp("/password OLD NEW", "change your name's password"),
    CommandHelp("/unregister PASSWORD", "give your name up"),
    CommandHelp("/privacy [history on|off]", "keep your private messages, or not"),
    CommandHelp("/away [REASON]", "say you are away, or (no reason) back"),
    CommandHelp("/ack ID...", "confirm stored messages (JSON clients)"),
    CommandHelp("/since ID", "before your name: history after that id only"),
    CommandHelp("/file list|decline ID|...", "files (chat-client sends them)"),
    CommandHelp("/mode json|text", "switch this connection's output format"),
    CommandHelp("/quit [REASON]", "say goodbye and disconnect", ("/exit",)),
)

_Handler = Callable[[Session, str], None]


def _room_and_rest(args: str, usage: str) -> tuple[str, str]:
    room, _, rest = args.strip().partition(" ")
    if not room:
        raise BadUsage(f"usage: {usage}")
    return room, rest.strip()


def _name_room_rest(args: str, usage: str) -> tuple[str, str, str]:
    words = args.split(None, 2)
    if len(words) < 2:
        raise BadUsage(f"usage: {usage}")
    return words[0], words[1], words[2].strip() if len(words) > 2 else ""


def _is_number(word: str) -> bool:
    # str.isdigit() is true of "²", which int() refuses: ASCII digits only.
    return word.isascii() and word.isdigit()


def _number(word: str, what: str) -> int:
    if not _is_number(word):
        raise BadUsage(f"{what} must be a whole number")
    return int(word)


class SlashCommands:
    """
    The slash commands that become session requests: C{/users} calls
    L{command_users}; user input can reach no other method.  The door
    answers C{/help}, C{/mode json|text} and C{/quit} itself, and
    C{/file} through L{file}.
    """

    def __init__(self, limits: Limits) -> None:
        self._limits = limits

    def handler(self, name: str) -> _Handler:
        """
        The handler of C{/name}.

        @raise UnknownCommand: if there is none.
        """
        handler: _Handler | None = (
            getattr(self, f"command_{name}", None) if name.isalpha() else None
        )
        if handler is None:
            raise UnknownCommand(
                f"unknown command /{name}; type /help for the list of commands."
            )
        return handler

    # Everyone.

    def command_users(self, session: Session, args: str) -> None:
        session.users()

    def command_who(self, session: Session, args: str) -> None:
        room = args.strip()
        if room:
            session.members(room.split()[0])
        else:
            session.users()

    def command_dm(self, session: Session, args: str) -> None:
        target, _, text = args.lstrip().partition(" ")
        if not target or not text.strip():
            raise BadUsage("usage: /dm NAME TEXT")
        session.whisper(target, text)

    command_msg = command_dm

    def command_bm(self, session: Session, args: str) -> None:
        if not args.strip():
            raise BadUsage("usage: /bm TEXT")
        session.say(args)

    def command_me(self, session: Session, args: str) -> None:
        if not args.strip():
            raise BadUsage("usage: /me ACTION")
        session.action(args)

    def command_history(self, session: Session, args: str) -> None:
        """
        C{/history [N]}, C{/history #ROOM [N]}, C{/history NAME [N]}: a
        lone number is a count, so a user named C{20} is asked for with a
        count too (C{/history 20 20}).
        """
        words = args.split()
        target, count = None, None
        if len(words) == 1 and _is_number(words[0]):
            count = words[0]
        elif len(words) in (1, 2):
            target = words[0]
            count = words[1] if len(words) == 2 else None
        if len(words) > 2 or (count is not None and not _is_number(count)):
            raise BadUsage(
                "usage: /history [#ROOM | NAME] [N], N from 1 to "
                f"{self._limits.history_max}"
            )
        number = int(count) if count is not None else None
        if target is None or target.startswith("#"):
            session.history(number, target)
        else:
            session.private_history(target, number)

    def command_privacy(self, session: Session, args: str) -> None:
        words = args.lower().split()
        if not words:
            session.privacy()
        elif len(words) == 2 and words[0] == "history" and words[1] in ("on", "off"):
            session.privacy(words[1] == "on")
        else:
            raise BadUsage("usage: /privacy [history on|off]")

    def command_away(self, session: Session, args: str) -> None:
        session.away(args.strip() or None)

    def command_ack(self, session: Session, args: str) -> None:
        words = args.split()
        if not words or not all(_is_number(word) for word in words):
            raise BadUsage("usage: /ack ID [ID ...] (the ids of stored messages)")
        session.acknowledge([int(word) for word in words])

    # Accounts.

    def command_register(self, session: Session, args: str) -> None:
        words = args.split()
        if len(words) != 1:
            raise BadUsage("usage: /register PASSWORD (one word, no spaces)")
        session.register(words[0])

    def command_password(self, session: Session, args: str) -> None:
        words = args.split()
        if len(words) != 2:
            raise BadUsage("usage: /password OLD NEW")
        session.change_password(words[0], words[1])

    def command_unregister(self, session: Session, args: str) -> None:
        words = args.split()
        if len(words) != 1:
            raise BadUsage("usage: /unregister PASSWORD")
        session.unregister(words[0])

    # Rooms.

    def command_say(self, session: Session, args: str) -> None:
        room, _, text = args.lstrip().partition(" ")
        if not room or not text.strip():
            raise BadUsage("usage: /say #room TEXT")
        session.say_in(room, text)

    def command_join(self, session: Session, args: str) -> None:
        words = args.split()
        if not 1 <= len(words) <= 2:
            raise BadUsage(_JOIN_USAGE)
        since = parse_history_id(words[1], _JOIN_USAGE) if len(words) == 2 else None
        session.join(words[0], since)

    def command_leave(self, session: Session, args: str) -> None:
        words = args.split(None, 1)
        if not words:
            raise BadUsage("usage: /leave #room [REASON]")
        reason = words[1].strip() if len(words) > 1 else ""
        session.leave(words[0], reason or None)

    command_part = command_leave

    def command_rooms(self, session: Session, args: str) -> None:
        session.rooms()

    def command_topic(self, session: Session, args: str) -> None:
        room, text = _room_and_rest(args, "/topic #room [TEXT]")
        session.topic(room, text or None)

    def command_mode(self, session: Session, args: str) -> None:
        """
        C{/mode #room +i|-i} (the door answers C{/mode json|text}).
        """
        words = args.split()
        if len(words) != 2 or words[1] not in ("+i", "-i"):
            raise BadUsage("usage: /mode #room +i (invite-only) or -i (open)")
        session.set_invite_only(words[0], words[1] == "+i")

    def command_invite(self, session: Session, args: str) -> None:
        name, room, _ = _name_room_rest(args, "/invite NAME #room")
        session.invite(name, room)

    def command_kick(self, session: Session, args: str) -> None:
        name, room, reason = _name_room_rest(args, "/kick NAME #room [REASON]")
        session.kick(name, room, reason or None)

    def command_op(self, session: Session, args: str) -> None:
        name, room, _ = _name_room_rest(args, "/op NAME #room")
        session.set_operator(name, room, True)

    def command_deop(self, session: Session, args: str) -> None:
        name, room, _ = _name_room_rest(args, "/deop NAME #room")
        session.set_operator(name, room, False)

    # Files (JSON mode: the door checks).

    def command_file(self, session: Session, args: str) -> None:
        sub, _, rest = args.strip().partition(" ")
        rest = rest.strip()
        match sub.lower():
            case "offer":
                words = rest.split(None, 3)
                if len(words) != 4:
                    raise BadUsage("usage: /file offer TARGET SIZE SHA256 NAME")
                target, size, sha256, name = words
                session.offer_file(target, _number(size, "SIZE"), sha256, name)
            case "resume":
                session.resume_upload(_number(rest, "ID"))
            case "get":
                words = rest.split()
                if len(words) != 2:
                    raise BadUsage("usage: /file get ID OFFSET")
                session.get_file(_number(words[0], "ID"), _number(words[1], "OFFSET"))
            case "done":
                session.file_done(_number(rest, "ID"))
            case "decline":
                session.decline_file(_number(rest, "ID"))
            case "cancel":
                session.cancel_file(_number(rest, "ID"))
            case "list":
                session.files()
            case _:
                raise BadUsage(
                    "usage: /file offer|chunk|resume|get|done|decline|cancel|list ..."
                )


def chunk_header(line: bytes, chunk_max: int) -> tuple[int, int, int]:
    """
    C{/file chunk ID OFFSET LENGTH}: the id, offset and length of the raw
    bytes that follow the line.

    @raise BadUsage: if the line is malformed (its bytes are not read).
    """
    words = line.split()
    if len(words) != 5 or not all(w.isdigit() for w in words[2:]):
        raise BadUsage("usage: /file chunk ID OFFSET LENGTH, then the bytes")
    length = int(words[4])
    if not 1 <= length <= chunk_max:
        raise BadUsage(f"a chunk is 1 to {chunk_max} bytes")
    return int(words[2]), int(words[3]), length

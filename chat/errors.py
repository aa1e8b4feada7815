# -*- test-case-name: tests.test_dispatcher -*-
"""
The chat core's errors.

Every L{ChatError} carries a message that is safe to show to the user who
caused it, and a short machine-readable C{code} for JSON clients.  Only front
ends turn them into wire text.
"""

from __future__ import annotations


class ChatError(Exception):
    """
    A request that cannot be carried out; C{str(error)} is shown to the user.
    """

    code = "error"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InvalidName(ChatError):
    """
    A requested name breaks the naming rules.
    """

    code = "invalid-name"


class ReservedName(InvalidName):
    """
    A requested name is reserved (C{ALL}).
    """

    code = "reserved-name"


class NameInUse(ChatError):
    """
    Someone online already holds the requested name.
    """

    code = "name-in-use"


class NoSuchUser(ChatError):
    """
    A message was addressed to a name nobody online holds.
    """

    code = "no-such-user"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not online; /users lists who is.")
        self.name = name


class UnknownCommand(ChatError):
    """
    A slash command that does not exist.
    """

    code = "unknown-command"


class BadUsage(ChatError):
    """
    A command with missing or malformed arguments.
    """

    code = "usage"


class NotJoined(ChatError):
    """
    A command that needs a name was sent before choosing one.
    """

    code = "not-joined"


class BadInput(ChatError):
    """
    Input that cannot be read as a line of UTF-8 text within the limits.
    """

    code = "bad-input"


class WrongPassword(ChatError):
    """
    The password given for a registered name is not its password.
    """

    code = "wrong-password"


class Throttled(ChatError):
    """
    Too many wrong passwords for a name or from an address: wait.
    """

    code = "throttled"


class NoSuchAccount(ChatError):
    """
    No account has that name: an account command from a guest, or the
    store asked about a name nobody registered.
    """

    code = "no-such-account"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not registered; /register PASSWORD reserves it.")
        self.name = name


class StoreFailed(ChatError):
    """
    The store could not carry out a request; nothing was changed.
    """

    code = "store-failed"

# -*- test-case-name: tests.web.test_files -*-
"""
Files over HTTP for the web door (issue 17): a stub with the contract's
interface until the web-files branch brings the real one.  It hands out
tokens and consumes nothing; C{/files/} answers 404.
"""

from __future__ import annotations

import secrets

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, NoResource, Resource
from twisted.web.server import Site

from chat.core.core import ChatCore
from chat.core.session import Session
from chat.events import Event


class _Files(Resource):
    def getChild(self, path: bytes, request: IRequest) -> IResource:
        return NoResource("file transfers over HTTP are not built yet")


class WebFiles:
    """
    The HTTP side of file transfers, one per site.
    """

    def __init__(self, core: ChatCore) -> None:
        self.core = core
        self.resource: IResource = _Files()
        self._sessions: dict[str, Session] = {}

    def install(self, site: Site) -> None:
        """
        Hook into C{site} (the real one may stream request bodies).
        """

    def attach(self, session: Session) -> str:
        """
        A new token for C{session}'s WebSocket, after its welcome.
        """
        token = secrets.token_urlsafe(32)
        self._sessions[token] = session
        return token

    def intercept(self, token: str, event: Event) -> bool:
        """
        Whether C{event}, bound to C{token}'s WebSocket, belongs to an HTTP
        transfer (and so is consumed).
        """
        return False

    def detach(self, token: str) -> None:
        """
        C{token}'s WebSocket closed: the token is dead.
        """
        self._sessions.pop(token, None)

"""
The chat core, built once and shared by every door: no sockets, no wire
formats, no file paths.

L{chat.core.core.ChatCore} builds the parts and opens a
L{chat.core.session.Session} for each connection; a door calls the
session's typed methods and renders the events it is sent.  See
C{docs/architecture.rst} for the map.
"""

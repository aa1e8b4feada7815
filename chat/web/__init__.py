"""
The web door: a C{twisted.web} site that serves the browser client
(C{static/}), a WebSocket at C{/ws} onto the core's sessions
(L{chat.web.door}, guarded by L{chat.web._websocket}) and files over HTTP
at C{/files/} (L{chat.web.files}); L{chat.web.site} puts them together.
"""

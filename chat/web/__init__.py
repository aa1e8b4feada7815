"""
The browser door: a twisted.web site serving the web client, its
WebSocket, and files over HTTP (L{chat.web.files}).
"""

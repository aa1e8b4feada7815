"""
End-to-end tests: the installed C{twistd chat} and C{chat-client} on loopback sockets.
"""

"""
Tests for the chat core, L{chat.core}, with no sockets and no wire format.
"""

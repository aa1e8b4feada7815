"""
Tests for L{chat.client}, the C{chat-client} program, with no sockets.
"""

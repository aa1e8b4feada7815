"""
C{chat-client}: the txchat terminal client.

L{chat.client.session} speaks the server's JSON mode and keeps the state of
a conversation, with L{chat.client.files} for file transfers; front ends
(the scriptable line mode in L{chat.client.script}, the full-screen
interface in L{chat.client.tui}) only read input and show events.
"""

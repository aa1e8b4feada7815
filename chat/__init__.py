"""
txchat: a multi-user chat server on Twisted.

The map (C{docs/architecture.rst} draws it whole; C{tests/test_layout.py}
checks it): imports point one way, doors -> core -> store -> errors and
events.

  - L{chat.tap}: the twistd plugin's options; builds the core, then the
    doors on it.
  - L{chat.lines}: the line door (nc, telnet, TLS, chat-client): framing,
    text syntax, rendering, output.
  - L{chat.core}: the chat core, built once, shared by every door:
    L{chat.core.core.ChatCore} and its typed session API,
    L{chat.core.session.Session}; no sockets, no wire formats, no paths.
  - L{chat.store}: what the core keeps (L{chat.store.interface.IChatStore},
    SQLite, memory) and the spool of files in transit.
  - L{chat.errors}, L{chat.events}: what the core refuses and tells.
  - L{chat.client}: C{chat-client}, a client of the line door.
"""

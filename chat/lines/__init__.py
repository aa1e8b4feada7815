"""
The line door: C{nc}, C{telnet}, C{openssl s_client} and C{chat-client}
over TCP or TLS.

L{chat.lines.framing} splits the byte stream into lines and chunks,
L{chat.lines.commands} maps the text syntax onto the core's session API,
L{chat.lines.render} turns events into text or JSON lines,
L{chat.lines.output} writes them (send-now, one write per turn, flow
control), and L{chat.lines.protocol} and L{chat.lines.factory} put these
together for Twisted.  L{chat.lines._socket} holds the only code that
reads Twisted's private transport attributes.
"""

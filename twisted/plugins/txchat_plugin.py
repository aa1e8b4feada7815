"""
The C{twistd chat} plugin (this file's name is unique to txchat: every
installed package shares the C{twisted/plugins} directory).
"""

from twisted.application.service import ServiceMaker

chatServer = ServiceMaker(
    "txchat",
    "chat.tap",
    "A multi-user chat server for nc, telnet and TLS clients.",
    "chat",
)

"""
txchat: a multi-user line-oriented chat server on Twisted.

The chat core (L{chat.registry}, L{chat.dispatcher}, L{chat.events}) knows
nothing of sockets or wire formats; L{chat.protocol} renders its events.
"""

"""
What the chat core keeps: L{chat.store.interface} (the L{IChatStore}
interface and its records), L{chat.store.sqlite} (the embedded default),
L{chat.store.memory} (everything in memory) and L{chat.store.spool} (the
bytes of files in transit).
"""

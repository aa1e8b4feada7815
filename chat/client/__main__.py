"""
C{python -m chat.client}: the same as C{chat-client}.
"""

from chat.client.main import main

main()

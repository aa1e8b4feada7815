"""
Tests for txchat; run with C{python -m twisted.trial tests}.
"""

"""
Tests for the line door, L{chat.lines}.
"""

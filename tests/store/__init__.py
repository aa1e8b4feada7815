"""Tests for L{chat.store}: the stores and the spool."""

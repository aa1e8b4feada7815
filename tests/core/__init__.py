"""Tests for L{chat.core}, through the typed session API."""

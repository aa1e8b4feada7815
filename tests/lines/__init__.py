"""Tests for L{chat.lines}, the nc/telnet/TLS door."""

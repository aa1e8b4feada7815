"""Tests of the web door (issue 17): L{chat.web}."""

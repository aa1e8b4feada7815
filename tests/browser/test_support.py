"""
Tests for L{tests.browser.support}'s choice between running, skipping and
failing the browser tests; they need no browser.
"""

from __future__ import annotations

import os
import sys
from unittest import SkipTest

from twisted.trial.unittest import SynchronousTestCase

from tests.browser.support import MISSING, REQUIRED_VARIABLE, chromium, duplicates


class ChromiumTests(SynchronousTestCase):
    def setUp(self) -> None:
        saved = {k: os.environ.get(k) for k in ("CHROMIUM", REQUIRED_VARIABLE)}

        def restore() -> None:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

        self.addCleanup(restore)
        os.environ.pop(REQUIRED_VARIABLE, None)
        self.missing = os.path.join(os.path.abspath(self.mktemp()), "chromium")

    def test_found(self) -> None:
        """
        C{$CHROMIUM} names the executable to drive.
        """
        os.environ["CHROMIUM"] = sys.executable
        self.assertEqual(chromium(), sys.executable)

    def test_missing_skips(self) -> None:
        """
        Without Chromium the tests are skipped, saying how to install it.
        """
        os.environ["CHROMIUM"] = self.missing
        with self.assertRaises(SkipTest) as caught:
            chromium()
        self.assertIn(MISSING, str(caught.exception))
        self.assertIn("apt-get install chromium", str(caught.exception))

    def test_not_executable_skips(self) -> None:
        """
        A file that cannot be run is no Chromium.
        """
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write("not a browser")
        os.environ["CHROMIUM"] = path
        self.assertRaises(SkipTest, chromium)

    def test_required_fails(self) -> None:
        """
        With C{TXCHAT_BROWSER_REQUIRED} set (CI), a missing Chromium is a
        failure, not a skip.
        """
        os.environ["CHROMIUM"] = self.missing
        os.environ[REQUIRED_VARIABLE] = "1"
        with self.assertRaises(AssertionError) as caught:
            chromium()
        self.assertIn(MISSING, str(caught.exception))
        self.assertNotIsInstance(caught.exception, SkipTest)

    def test_required_off(self) -> None:
        """
        C{TXCHAT_BROWSER_REQUIRED=0} (or empty) does not require it.
        """
        os.environ["CHROMIUM"] = self.missing
        for value in ("0", ""):
            os.environ[REQUIRED_VARIABLE] = value
            self.assertRaises(SkipTest, chromium)


class DuplicatesTests(SynchronousTestCase):
    def test_duplicates(self) -> None:
        """
        Each value seen more than once, once, in order of first repeat.
        """
        self.assertEqual(duplicates(["1", "2", "1", "3", "2", "1"]), ["1", "2"])
        self.assertEqual(duplicates(["1", "2"]), [])

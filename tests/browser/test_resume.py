"""
The page across a restart of the server: it shows that it is cut off,
reconnects by itself and resumes without showing anything twice.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.support import (
    TIMEOUT_MS,
    BrowserTest,
    WebUser,
    duplicates,
    log_in_line,
    start_server,
)


class RestartTests(BrowserTest):
    def test_reconnects_without_duplicates(self) -> None:
        """
        The server is stopped while alice's page is open: the banner shows.
        It starts again on the same ports with the same SQLite file: the
        banner hides, and the lines bob said before and after are each
        shown once, whatever the history replay at the new login repeats
        (the page resumes with C{/since}).
        """
        server = start_server(self)
        alice = WebUser(self, server, "alice")
        alice.log_in()
        banner = alice.page.locator("#banner")
        expect(banner).to_be_hidden()
        bob = log_in_line(self, server, "bob")
        said = [f"before the restart {i}" for i in range(3)]
        for text in said:
            bob.send_line(text)
            alice.expect_line(text, "bob")
        self.assertEqual(len(alice.data_ids()), 3)
        bob.close()

        server.stop()
        expect(banner).to_be_visible()
        server = start_server(
            self,
            database=server.database,
            line_port=server.line_port,
            web_port=server.web_port,
        )
        # The page's backoff decides when it comes back.
        expect(banner).to_be_hidden(timeout=TIMEOUT_MS * 3)
        bob = log_in_line(self, server, "bob")
        bob.send_line("after the restart")
        alice.expect_line("after the restart", "bob")
        for text in said:
            expect(alice.line(text)).to_have_count(1)
        ids = alice.data_ids()
        self.assertEqual(duplicates(ids), [])
        self.assertEqual(len(ids), 4, ids)
        alice.say("still here")
        bob.expect("alice: still here")

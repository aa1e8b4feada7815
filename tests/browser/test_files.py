"""
Files between a browser and C{chat-client}, both ways, over the web door's
HTTP transfers and the line door's raw chunks.
"""

from __future__ import annotations

import os
import random

from playwright.sync_api import expect

from tests.browser.support import BrowserTest, ChatClient, WebUser, start_server


def write(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class FileTests(BrowserTest):
    """
    alice in a browser, bob in C{chat-client}.
    """

    def test_both_ways_byte_identical(self) -> None:
        """
        A file alice picks in the page (C{#file-input}, in her conversation
        with bob) is saved by bob's client byte for byte; a file bob sends
        is offered in alice's page, and accepting it downloads it under its
        name (not ASCII), byte for byte, and bob hears it was received; a
        second one alice declines, and bob hears that.
        """
        server = start_server(self)
        inbox = os.path.abspath(self.mktemp())
        outbox = os.path.abspath(self.mktemp())
        os.makedirs(inbox)
        os.makedirs(outbox)
        bob = ChatClient(self, server, "bob", "--auto-accept", "--download-dir", inbox)
        bob.expect_out("* joined as bob")
        alice = WebUser(self, server, "alice")
        alice.log_in()
        alice.say("/dm bob files are coming")
        bob.expect_out("[private] alice: files are coming")
        alice.open("@bob")

        rng = random.Random(17)
        up = rng.randbytes(700 * 1024 + 123)
        alice.page.set_input_files("#file-input", write(outbox, "from browser.bin", up))
        bob.expect_out("* saved from browser.bin", timeout=60)
        self.assertEqual(read(os.path.join(inbox, "from browser.bin")), up)

        down = rng.randbytes(500 * 1024 + 7)
        bob.send_line(f"/send alice {write(outbox, 'données 2.bin', down)}")
        offer = alice.page.locator(
            ".file-offer[data-file-id]", has_text="données 2.bin"
        )
        expect(offer).to_have_count(1)
        with alice.page.expect_download() as info:
            offer.locator("button.accept").click()
        download = info.value
        self.assertEqual(download.suggested_filename, "données 2.bin")
        saved = os.path.join(outbox, "downloaded.bin")
        download.save_as(saved)
        self.assertIsNone(download.failure())
        self.assertEqual(read(saved), down)
        bob.expect_out("* alice received données 2.bin", timeout=30)

        bob.send_line(f"/send alice {write(outbox, 'unwanted.txt', b'no thanks')}")
        unwanted = alice.page.locator(
            ".file-offer[data-file-id]", has_text="unwanted.txt"
        )
        expect(unwanted).to_have_count(1)
        unwanted.locator("button.decline").click()
        bob.expect_out("* alice declined unwanted.txt")

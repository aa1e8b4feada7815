"""
End-to-end test of file transfer with C{chat-client}: two installed
clients in scriptable mode (stdin a pipe) against the installed C{twistd
chat} over loopback TCP.

It proves what the unit tests of L{chat.client.files} cannot: that the real
server and client agree on the framing of raw chunks both ways, that a file
of a few MiB arrives byte-identical, and that chat lines get through while
it travels.
"""

from __future__ import annotations

import os
import random

from twisted.trial.unittest import TestCase

from tests.e2e.support import start_server, temp_dir, temp_file
from tests.e2e.test_client import run_client

# Big enough that the upload is still under way when a line typed after it
# started reaches the server (the client keeps at most 1 MiB in flight).
SIZE = 8 * 1024 * 1024 + 12345


class ScriptedFileTests(TestCase):
    """
    A file sent from one script to another.
    """

    async def test_file_arrives_while_chatting(self) -> None:
        """
        alice sends a file to bob, who accepts everything; a line alice
        types once the upload has started reaches bob before the file is
        even offered to him (it went between chunks, not after the file),
        bob's line during his download reaches alice, and the file is saved
        byte for byte, then reported as received to alice.
        """
        server = await start_server(self)
        port = str(server.tcp_port)
        data = random.Random(6).randbytes(SIZE)
        path = temp_file(self, "big.bin", data)
        inbox = temp_dir(self)

        bob = run_client(
            self,
            *("--name", "bob", "--auto-accept", "--download-dir", inbox),
            *("127.0.0.1", port),
            label="bob",
        )
        await bob.expect_out("* joined as bob")
        alice = run_client(self, "--name", "alice", "127.0.0.1", port, label="alice")
        await alice.expect_out("* joined as alice")

        alice.send_line(f"/send bob {path}")
        await alice.expect_err("* sending big.bin to bob: 0%")
        alice.send_line("bob*while sending")
        await bob.expect_out("[private] alice: while sending")
        offer = await bob.expect_out("* alice offers big.bin")
        self.assertRegex(
            offer,
            r"^\* alice offers big\.bin \(8\.0 MiB\), file (\d+); "
            r"/accept \1 or /decline \1$",
        )
        bob.send_line("alice*while receiving")
        saved = os.path.join(inbox, "big.bin")
        self.assertEqual(
            await bob.expect_out("* saved big.bin"),
            f"* saved big.bin (8.0 MiB) from alice as {saved}",
        )
        with open(saved, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(os.listdir(inbox), ["big.bin"])
        ident = offer.split("file ")[1].split(";")[0]
        await alice.expect_out("* bob received big.bin")
        for line in (
            f"* sent big.bin (file {ident}) to bob",
            "[private] bob: while receiving",
            f"* bob received big.bin (file {ident})",
        ):
            self.assertIn(line, alice.out_lines)
        self.assertIn("* sent big.bin to bob: 8.0 MiB in ", alice.err)

        for client in (alice, bob):
            client.close_stdin()
            self.assertEqual(await client.exit_code(), 0)
            self.assertNotIn("ERROR", client.err)

    async def test_script_waits_for_its_upload(self) -> None:
        """
        A script whose input ends right after C{/send} uploads the file
        before it quits; the recipient can fetch it afterwards.
        """
        server = await start_server(self)
        port = str(server.tcp_port)
        data = random.Random(7).randbytes(3 * 1024 * 1024)
        path = temp_file(self, "report.pdf", data)
        inbox = temp_dir(self)
        bob = run_client(
            self, "--name", "bob", "--download-dir", inbox, "127.0.0.1", port
        )
        await bob.expect_out("* joined as bob")
        alice = run_client(
            self, "--name", "alice", "127.0.0.1", port, stdin=f"/send bob {path}\n"
        )
        self.assertEqual(await alice.exit_code(), 0)
        self.assertIn("* sent report.pdf (file ", alice.out)
        offer = await bob.expect_out("* alice offers report.pdf")
        ident = offer.split("file ")[1].split(";")[0]
        bob.send_line(f"/accept {ident}")
        await bob.expect_out("* saved report.pdf")
        with open(os.path.join(inbox, "report.pdf"), "rb") as f:
            self.assertEqual(f.read(), data)
        bob.close_stdin()
        self.assertEqual(await bob.exit_code(), 0)
        self.assertNotIn("ERROR", alice.err + bob.err)

"""
End-to-end tests of file transfer: the installed C{twistd chat} with a real
SQLite file and spool directory, clients on loopback TCP.

Most tests speak the protocol themselves (L{FileClient}: JSON lines, raw
chunk frames both ways), so that they can do what a well-behaved client
never does: send bytes that do not match the offer, or drop the connection
in the middle of a transfer.  The last one uses the installed
C{chat-client} for the issue's "done when": a multi-MiB file to an offline
registered user, saved byte for byte when it logs in.  L{ShutdownTests}
covers the offers of guests still online when the server stops.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from typing import Any, Final, cast

from twisted.internet.endpoints import connectProtocol
from twisted.internet.interfaces import (
    IReactorTime,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.e2e.support import (
    TIMEOUT,
    ChatServer,
    LineClient,
    start_server,
    tcp_endpoint,
    temp_dir,
    temp_file,
    tls_endpoint,
)
from tests.e2e.test_accounts import PASSWORD, register
from tests.e2e.test_client_accounts import password_file, run_client, target
from tests.e2e.test_client_accounts import register as client_register

#: The largest chunk, either way.
CHUNK: Final = 64 * 1024
MIB: Final = 1024 * 1024

# The server ends its lines as the client does: CRLF here.
_LINE_END: Final = re.compile(rb"\r?\n")
_CHUNK_EVENT: Final = '{"type":"file-chunk"'


def _reactor() -> IReactorTime:
    from twisted.internet import reactor

    return cast(IReactorTime, reactor)


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    event: dict[str, Any] = json.loads(line)
    return event


class FileClient(LineClient):
    """
    A L{LineClient} in JSON mode that also reads file chunks: after a
    C{file-chunk} line come C{size} raw bytes, kept in L{chunks} instead of
    being split into lines.

    @ivar chunks: C{(id, offset, data)} of every chunk received, in order.
        (L{raw} is not kept: a download would make it megabytes.)
    """

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.chunks: list[tuple[int, int, bytes]] = []
        self._unparsed = b""
        # (id, offset, size) of the chunk whose bytes are being read.
        self._reading: tuple[int, int, int] | None = None

    def dataReceived(self, data: bytes) -> None:
        buffer = self._unparsed + data
        while True:
            if self._reading is not None:
                file_id, offset, size = self._reading
                if len(buffer) < size:
                    break
                self.chunks.append((file_id, offset, buffer[:size]))
                buffer = buffer[size:]
                self._reading = None
                continue
            match = _LINE_END.search(buffer)
            if match is None:
                break
            line = buffer[: match.start()].decode("utf-8", "replace")
            buffer = buffer[match.end() :]
            self.lines.append(line)
            if line.startswith(_CHUNK_EVENT):
                event = json.loads(line)
                self._reading = (event["id"], event["offset"], event["size"])
        self._unparsed = buffer
        self._conditions.check()

    def send_chunk(self, file_id: int, offset: int, data: bytes) -> None:
        """
        Send C{data} as the chunk of file C{file_id} at C{offset}.
        """
        header = f"/file chunk {file_id} {offset} {len(data)}\r\n"
        self.send(header.encode("ascii") + data)

    def drop(self) -> None:
        """
        Drop the connection at once, as a lost network would: what is not
        yet sent is lost.
        """
        cast(ITCPTransport, self.transport).abortConnection()

    async def event(
        self, kind: str, timeout: float = TIMEOUT, **fields: object
    ) -> dict[str, Any]:
        """
        The first unread event of type C{kind} with these C{fields}; it and
        the lines before it become read.

        @raise AssertionError: if an error event comes first (unless
            C{kind} is C{"error"}).
        """

        def match(line: str) -> bool:
            event = _event(line)
            if event is None:
                return False
            if event["type"] == "error" and kind != "error":
                return True
            return event["type"] == kind and all(
                event.get(key) == value for key, value in fields.items()
            )

        line = await self.expect(match, timeout, f"{kind} event with {fields}")
        event = _event(line)
        assert event is not None
        if event["type"] != kind:
            raise AssertionError(f"waiting for {kind} {fields}, got {event}")
        return event

    async def chunk(self, file_id: int, offset: int) -> bytes:
        """
        The data of the chunk of C{file_id} at C{offset}, once it is here.

        @raise AssertionError: if an error event comes meanwhile.
        """
        lines_seen = len(self.lines)

        def arrived() -> tuple[bytes | None, dict[str, Any] | None] | None:
            for got_id, got_offset, data in self.chunks:
                if (got_id, got_offset) == (file_id, offset):
                    return data, None
            for line in self.lines[lines_seen:]:
                event = _event(line)
                if event is not None and event["type"] == "error":
                    return None, event
            return None

        data, error = await self._conditions.wait(
            arrived, f"chunk of file {file_id} at {offset}", TIMEOUT
        )
        if data is None:
            raise AssertionError(f"asking for file {file_id} at {offset}: {error}")
        return data

    async def upload(self, file_id: int, data: bytes, start: int, stop: int) -> None:
        """
        Send C{data[start:stop]} as chunks of file C{file_id}, each after
        the server acknowledged the one before.
        """
        offset = start
        while offset < stop:
            piece = data[offset : min(offset + CHUNK, stop)]
            self.send_chunk(file_id, offset, piece)
            offset += len(piece)
            await self.event("file-ack", id=file_id, offset=offset)

    async def download(self, file_id: int, start: int, stop: int) -> bytes:
        """
        Fetch the bytes of file C{file_id} from C{start} to C{stop} (a chunk
        boundary or the end), one C{/file get} at a time.
        """
        parts = []
        offset = start
        while offset < stop:
            self.send_line(f"/file get {file_id} {offset}")
            data = await self.chunk(file_id, offset)
            if not data:
                raise AssertionError(f"empty chunk of file {file_id} at {offset}")
            parts.append(data)
            offset += len(data)
        return b"".join(parts)

    async def offer(self, to: str, data: bytes, name: str) -> int:
        """
        Offer C{data} as the file C{name} to C{to}; the new file's id.
        """
        digest = hashlib.sha256(data).hexdigest()
        self.send_line(f"/file offer {to} {len(data)} {digest} {name}")
        upload = await self.event("file-upload", name=name)
        if upload["offset"] != 0 or upload["size"] != len(data):
            raise AssertionError(f"offered {len(data)} bytes, got {upload}")
        file_id: int = upload["id"]
        return file_id


async def files_server(
    case: TestCase, *options: str, database: str | None = None, tls: bool = False
) -> tuple[ChatServer, str]:
    """
    C{twistd chat} with a SQLite file, fresh unless C{database} is given
    (and a TLS listener too if C{tls}); and its spool directory, by
    default C{chat-spool} next to the database.
    """
    if database is None:
        database = os.path.abspath(case.mktemp())
    server = await start_server(case, "--database", database, *options, tls=tls)
    return server, os.path.join(os.path.dirname(database), "chat-spool")


async def json_client(
    case: TestCase, port: int | IStreamClientEndpoint, name: str
) -> tuple[FileClient, str]:
    """
    Connect to C{port} (or any endpoint), switch to JSON and ask for
    C{name}; the answer, the password prompt (if C{name} is registered)
    or the welcome, is read and returned.
    """
    client = FileClient(name)
    endpoint = tcp_endpoint(port) if isinstance(port, int) else port
    await connectProtocol(endpoint, client).addTimeout(TIMEOUT, _reactor())
    case.addCleanup(client.close)
    await client.expect("name")
    client.send_line("/mode json")
    await client.expect('"prompt":"name"')
    client.send_line(name)
    answer = await client.expect(
        lambda line: '"prompt":"password"' in line or '"type":"welcome"' in line
    )
    return client, answer


async def guest(
    case: TestCase, port: int | IStreamClientEndpoint, name: str
) -> FileClient:
    """
    C{name} logged in as a guest, in JSON mode.
    """
    client, answer = await json_client(case, port, name)
    case.assertIn('"type":"welcome"', answer)
    return client


async def member(case: TestCase, port: int, name: str) -> FileClient:
    """
    The registered C{name} logged in with its password, in JSON mode; what
    comes up to the end of its stored messages is read.
    """
    client, answer = await json_client(case, port, name)
    case.assertIn('"prompt":"password"', answer)
    client.send_line(PASSWORD)
    await client.event("welcome", name=name)
    await client.event("stored-end")
    return client


def random_bytes(seed: int, size: int) -> bytes:
    """
    C{size} bytes that differ from seed to seed.
    """
    return random.Random(seed).randbytes(size)


class TLSTests(TestCase):
    """
    Files travel over TLS as over TCP: chunks are raw bytes inside the
    TLS stream, both ways.
    """

    timeout = 60

    async def test_round_trip_over_tls(self) -> None:
        """
        alice, over TLS, sends bob, over TLS, a file of several chunks; it
        arrives byte for byte and leaves the spool once fetched.
        """
        server, spool = await files_server(self, tls=True)
        alice = await guest(self, tls_endpoint(server), "alice")
        bob = await guest(self, tls_endpoint(server), "bob")
        data = random_bytes(7, 3 * CHUNK + 4321)
        file_id = await alice.offer("bob", data, "over-tls.bin")
        await alice.upload(file_id, data, 0, len(data))
        sent = await alice.event("file-sent", id=file_id)
        self.assertEqual((sent["to"], sent["stored"]), ("bob", False))
        await bob.event("file-offer", id=file_id)
        self.assertEqual(await bob.download(file_id, 0, len(data)), data)
        bob.send_line(f"/file done {file_id}")
        await alice.event("file-delivered", id=file_id)
        self.assertEqual(os.listdir(spool), [])


class DeclineTests(TestCase):
    """
    A recipient refusing a file.
    """

    timeout = 60

    async def test_decline(self) -> None:
        """
        bob declines alice's file: alice gets C{file-declined} naming bob,
        the file leaves the spool, and bob can no longer fetch it.
        """
        server, spool = await files_server(self)
        bob = await guest(self, server.tcp_port, "bob")
        alice = await guest(self, server.tcp_port, "alice")
        data = random_bytes(1, 100_000)
        file_id = await alice.offer("bob", data, "notes.txt")
        await alice.upload(file_id, data, 0, len(data))
        sent = await alice.event("file-sent", id=file_id)
        self.assertEqual((sent["to"], sent["stored"]), ("bob", False))
        offer = await bob.event("file-offer", id=file_id)
        self.assertEqual(
            (offer["from"], offer["name"], offer["size"], offer["sha256"]),
            ("alice", "notes.txt", len(data), hashlib.sha256(data).hexdigest()),
        )
        self.assertEqual(os.listdir(spool), [str(file_id)])
        with open(os.path.join(spool, str(file_id)), "rb") as f:
            self.assertEqual(f.read(), data)

        bob.send_line(f"/file decline {file_id}")
        declined = await alice.event("file-declined", id=file_id)
        self.assertEqual((declined["to"], declined["name"]), ("bob", "notes.txt"))
        self.assertEqual(os.listdir(spool), [])
        bob.send_line(f"/file get {file_id} 0")
        error = await bob.event("error", id=file_id)
        self.assertEqual(error["code"], "no-such-file")
        self.assertEqual([c for c in bob.chunks if c[0] == file_id], [])


class LimitTests(TestCase):
    """
    C{--max-file-size} and C{--file-quota}.
    """

    timeout = 60

    async def test_size_and_quota(self) -> None:
        """
        With C{--max-file-size 1 --file-quota 2}: an offer one byte over
        1 MiB is refused as C{file-too-large}; two files of exactly 1 MiB
        waiting for bob fill the quota, so a third offer, however small, is
        C{quota-exceeded}; once bob declines one, a 1 MiB offer fits again.
        """
        server, spool = await files_server(
            self, "--max-file-size", "1", "--file-quota", "2"
        )
        bob = await guest(self, server.tcp_port, "bob")
        alice = await guest(self, server.tcp_port, "alice")
        digest = "0" * 64
        alice.send_line(f"/file offer bob {MIB + 1} {digest} huge.bin")
        error = await alice.event("error")
        self.assertEqual(error["code"], "file-too-large")
        self.assertIn(f"{MIB:,} bytes", error["text"])

        ids = []
        for seed in (1, 2):
            data = random_bytes(seed, MIB)
            file_id = await alice.offer("bob", data, f"part{seed}.bin")
            await alice.upload(file_id, data, 0, MIB)
            await alice.event("file-sent", id=file_id)
            await bob.event("file-offer", id=file_id)
            ids.append(file_id)
        self.assertEqual(sorted(os.listdir(spool)), sorted(str(i) for i in ids))

        alice.send_line(f"/file offer bob 1 {hashlib.sha256(b'x').hexdigest()} x")
        error = await alice.event("error")
        self.assertEqual(error["code"], "quota-exceeded")
        self.assertIn(f"{2 * MIB:,}", error["text"])

        bob.send_line(f"/file decline {ids[0]}")
        await alice.event("file-declined", id=ids[0])
        self.assertEqual(os.listdir(spool), [str(ids[1])])
        file_id = await alice.offer("bob", random_bytes(3, MIB), "part3.bin")
        self.assertNotIn(file_id, ids)
        # Leave nothing offered to the guest bob when the server stops: see
        # ShutdownTests.
        bob.send_line(f"/file decline {ids[1]}")
        await alice.event("file-declined", id=ids[1])


class ChecksumTests(TestCase):
    """
    Uploads whose bytes are not what was offered.
    """

    timeout = 60

    async def test_corrupted_upload(self) -> None:
        """
        An upload with one byte changed is acknowledged chunk by chunk but
        refused at the end as C{checksum-mismatch} (with its id): bob is
        never offered it, alice has no upload left, nothing stays in the
        spool, and bob cannot fetch it.
        """
        server, spool = await files_server(self)
        bob = await guest(self, server.tcp_port, "bob")
        alice = await guest(self, server.tcp_port, "alice")
        data = random_bytes(3, 3 * CHUNK + 500)
        file_id = await alice.offer("bob", data, "photo.jpg")
        corrupted = bytearray(data)
        corrupted[2 * CHUNK + 7] ^= 0xFF
        await alice.upload(file_id, bytes(corrupted), 0, len(data))
        error = await alice.event("error")
        self.assertEqual((error["code"], error["id"]), ("checksum-mismatch", file_id))
        self.assertIn(hashlib.sha256(corrupted).hexdigest(), error["text"])
        self.assertEqual(os.listdir(spool), [])

        alice.send_line("/file list")
        self.assertEqual((await alice.event("file-list"))["uploads"], [])
        bob.send_line("/file list")
        self.assertEqual((await bob.event("file-list"))["offers"], [])
        self.assertFalse([line for line in bob.lines if "file-offer" in line])
        bob.send_line(f"/file get {file_id} 0")
        self.assertEqual((await bob.event("error", id=file_id))["code"], "no-such-file")


class OfflineTests(TestCase):
    """
    Files for a registered user who is not online.
    """

    timeout = 60

    async def test_offered_at_login(self) -> None:
        """
        A file for the offline registered bob is kept (C{stored: true});
        bob is offered it when he logs in, after his stored messages,
        fetches it byte for byte, and once he says C{/file done} alice is
        told and the spool is empty.
        """
        server, spool = await files_server(self)
        port = server.tcp_port
        await register(self, port, "bob")
        alice = await guest(self, port, "alice")
        data = random_bytes(4, 5 * CHUNK + 1234)
        file_id = await alice.offer("bob", data, "report.pdf")
        await alice.upload(file_id, data, 0, len(data))
        sent = await alice.event("file-sent", id=file_id)
        self.assertEqual((sent["to"], sent["stored"]), ("bob", True))
        self.assertEqual(os.listdir(spool), [str(file_id)])

        bob = await member(self, port, "bob")
        offer = await bob.event("file-offer", id=file_id)
        self.assertEqual(
            (offer["from"], offer["name"], offer["size"], offer["sha256"]),
            ("alice", "report.pdf", len(data), hashlib.sha256(data).hexdigest()),
        )
        self.assertIsNone(offer["room"])
        received = await bob.download(file_id, 0, len(data))
        self.assertEqual(received, data)
        bob.send_line(f"/file done {file_id}")
        delivered = await alice.event("file-delivered", id=file_id)
        self.assertEqual((delivered["to"], delivered["name"]), ("bob", "report.pdf"))
        self.assertEqual(os.listdir(spool), [])
        bob.send_line("/file list")
        self.assertEqual((await bob.event("file-list"))["offers"], [])


class ResumeTests(TestCase):
    """
    Transfers that go on after the connection dropped.
    """

    timeout = 60

    async def test_upload_resumed(self) -> None:
        """
        alice's connection closes after six acknowledged chunks, halfway
        through the seventh; logged in again to her account (a guest's
        uploads go with its connection), C{/file resume} gives the
        acknowledged offset (the half chunk was discarded), a chunk from
        anywhere else is refused as C{bad-offset} with that offset, and the
        rest sent from there makes a file bob receives byte for byte.
        """
        server, spool = await files_server(self)
        port = server.tcp_port
        bob = await guest(self, port, "bob")
        await register(self, port, "alice")
        alice = await member(self, port, "alice")
        data = random_bytes(5, 16 * CHUNK + 999)
        file_id = await alice.offer("bob", data, "movie.mkv")
        have = 6 * CHUNK
        await alice.upload(file_id, data, 0, have)
        alice.send(f"/file chunk {file_id} {have} {CHUNK}\r\n".encode())
        alice.send(data[have : have + CHUNK // 2])
        await alice.close()
        await bob.event("leave", name="alice")

        alice = await member(self, port, "alice")
        alice.send_line(f"/file resume {file_id}")
        resumed = await alice.event("file-upload", id=file_id)
        self.assertEqual(
            (resumed["offset"], resumed["size"], resumed["name"]),
            (have, len(data), "movie.mkv"),
        )
        alice.send_chunk(file_id, 0, data[:CHUNK])
        error = await alice.event("error", id=file_id)
        self.assertEqual((error["code"], error["offset"]), ("bad-offset", have))
        await alice.upload(file_id, data, have, len(data))
        sent = await alice.event("file-sent", id=file_id)
        self.assertFalse(sent["stored"])
        self.assertEqual(os.listdir(spool), [str(file_id)])

        await bob.event("file-offer", id=file_id)
        self.assertEqual(await bob.download(file_id, 0, len(data)), data)
        bob.send_line(f"/file done {file_id}")
        await alice.event("file-delivered", id=file_id)
        self.assertEqual(os.listdir(spool), [])

    async def test_download_resumed(self) -> None:
        """
        bob's connection drops after five chunks, with more asked for; when
        he logs in again the file is offered again and C{/file get} from
        where his copy ends fetches the rest: the whole is byte for byte
        what alice sent.
        """
        server, spool = await files_server(self)
        port = server.tcp_port
        await register(self, port, "bob")
        bob = await member(self, port, "bob")
        alice = await guest(self, port, "alice")
        data = random_bytes(6, 16 * CHUNK + 4321)
        file_id = await alice.offer("bob", data, "backup.tar")
        await alice.upload(file_id, data, 0, len(data))
        self.assertFalse((await alice.event("file-sent", id=file_id))["stored"])
        await bob.event("file-offer", id=file_id)
        have = 5 * CHUNK
        first = await bob.download(file_id, 0, have)
        for offset in range(have, have + 4 * CHUNK, CHUNK):
            bob.send_line(f"/file get {file_id} {offset}")
        bob.drop()
        await bob.wait_closed()
        await alice.event("leave", name="bob")

        bob = await member(self, port, "bob")
        offer = await bob.event("file-offer", id=file_id)
        self.assertEqual(offer["size"], len(data))
        rest = await bob.download(file_id, have, len(data))
        self.assertEqual(first + rest, data)
        bob.send_line(f"/file done {file_id}")
        await alice.event("file-delivered", id=file_id)
        self.assertEqual(os.listdir(spool), [])


async def spool_empties(case: TestCase, spool: str) -> None:
    """
    Wait (at most L{TIMEOUT} seconds) until the spool directory is empty:
    the spool deletes in a thread of its own.
    """
    for _ in range(int(TIMEOUT * 20)):
        if not os.listdir(spool):
            return
        await deferLater(_reactor(), 0.05)
    case.assertEqual(os.listdir(spool), [])


class OwnershipTests(TestCase):
    """
    Files belong to accounts and connections, not to names.
    """

    timeout = 60

    async def test_unregistered_name_keeps_no_files(self) -> None:
        """
        A file stored for the registered bob is offered to him at login;
        once bob unregisters, the next guest called bob lists no files and
        cannot fetch it, and the spool is empty.
        """
        server, spool = await files_server(self)
        port = server.tcp_port
        await register(self, port, "bob")
        alice = await guest(self, port, "alice")
        data = random_bytes(9, 2 * CHUNK + 5)
        file_id = await alice.offer("bob", data, "private.txt")
        await alice.upload(file_id, data, 0, len(data))
        self.assertTrue((await alice.event("file-sent", id=file_id))["stored"])

        bob = await member(self, port, "bob")
        await bob.event("file-offer", id=file_id)
        bob.send_line(f"/unregister {PASSWORD}")
        await bob.event("account", action="unregistered")
        await bob.close()
        await alice.event("leave", name="bob")

        bob = await guest(self, port, "bob")
        bob.send_line("/file list")
        listing = await bob.event("file-list")
        self.assertEqual((listing["offers"], listing["uploads"]), ([], []))
        bob.send_line(f"/file get {file_id} 0")
        error = await bob.event("error")
        self.assertEqual(error["code"], "no-such-file")
        await spool_empties(self, spool)


class ShutdownTests(TestCase):
    """
    Stopping the server with transfers pending.
    """

    timeout = 60

    async def test_guest_offer_dropped_at_shutdown(self) -> None:
        """
        A file offered to a guest who is still online when the server is
        stopped goes with the guest's connection, as at any disconnection:
        the server stops cleanly, and started again on the same database it
        has nothing in the spool and charges nothing to the sender's quota.
        """
        database = os.path.abspath(self.mktemp())
        server, spool = await files_server(self, "--file-quota", "1", database=database)
        bob = await guest(self, server.tcp_port, "bob")
        alice = await guest(self, server.tcp_port, "alice")
        data = random_bytes(8, MIB)
        file_id = await alice.offer("bob", data, "full.bin")
        await alice.upload(file_id, data, 0, MIB)
        await bob.event("file-offer", id=file_id)
        try:
            await server.process.stop()
        finally:
            # Stopped (cleanly or not) here: the cleanup must not check the
            # same log again.
            server.process.killed = True

        server, spool = await files_server(self, "--file-quota", "1", database=database)
        self.assertEqual(os.listdir(spool), [])
        await guest(self, server.tcp_port, "bob")
        alice = await guest(self, server.tcp_port, "alice")
        await alice.offer("bob", data, "full.bin")


class ClientTests(TestCase):
    """
    The issue's "done when", with the project's own client.
    """

    timeout = 60

    async def test_to_offline_user_with_client(self) -> None:
        """
        alice's C{chat-client} script sends a multi-MiB file to the
        registered bob, who is offline, and quits once it is uploaded;
        later bob's client, logging in with C{--password-file} and
        C{--auto-accept}, shows the offer, reports progress on stderr and
        saves the file, byte for byte, where it says.
        """
        server, spool = await files_server(self)
        await client_register(self, server, "bob")
        data = random_bytes(7, 5 * MIB + 4321)
        path = temp_file(self, "big.bin", data)
        inbox = temp_dir(self)

        alice = run_client(
            self, *target(server, "alice"), stdin=f"/send bob {path}\n", label="alice"
        )
        self.assertEqual(await alice.exit_code(timeout=30), 0, alice.err)
        sent = [line for line in alice.out_lines if line.startswith("* sent ")]
        self.assertEqual(len(sent), 1, alice.out)
        self.assertRegex(
            sent[0],
            r"^\* sent big\.bin \(file \d+\) to bob; "
            r"those offline get it when they log in$",
        )
        self.assertIn("* sending big.bin to bob: 0%", alice.err)
        self.assertEqual(len(os.listdir(spool)), 1)

        bob = run_client(
            self,
            *("--password-file", password_file(self, PASSWORD)),
            *("--auto-accept", "--download-dir", inbox),
            *target(server, "bob"),
            label="bob",
        )
        offer = await bob.expect_out("* alice offers big.bin")
        self.assertRegex(
            offer,
            r"^\* alice offers big\.bin \(5\.0 MiB\), file (\d+); "
            r"/accept \1 or /decline \1$",
        )
        saved = os.path.join(inbox, "big.bin")
        self.assertEqual(
            await bob.expect_out("* saved big.bin", timeout=30),
            f"* saved big.bin (5.0 MiB) from alice as {saved}",
        )
        with open(saved, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(os.listdir(inbox), ["big.bin"])
        progress = bob.err.splitlines()
        self.assertTrue(
            [
                p
                for p in progress
                if re.match(r"^\* receiving big\.bin from alice: \d+%", p)
            ],
            bob.err,
        )
        self.assertTrue(
            [
                p
                for p in progress
                if p.startswith("* received big.bin from alice: 5.0 MiB")
            ],
            bob.err,
        )
        bob.close_stdin()
        self.assertEqual(await bob.exit_code(), 0, bob.err)
        self.assertNotIn("ERROR", alice.err + bob.err)
        self.assertEqual(os.listdir(spool), [])

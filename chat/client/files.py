# -*- test-case-name: tests.client.test_files -*-
"""
File transfer in C{chat-client}: the client side of C{docs/protocol.rst},
"File transfer".

L{Transfers} keeps every upload and download of a session.  It only ever
holds one chunk of a file in memory: an upload reads the next 64 KiB when
the window of unacknowledged chunks has room (a pull driven by the
server's C{file-ack}s), so chat lines typed meanwhile go out between
chunks instead of behind the whole file; a download writes each chunk to
C{NAME.part} as it arrives and hashes it on the way.  Hashing a whole
file (before an offer, or the partial copy a download resumes from) runs
in a thread.

Which line an answer answers: C{file-ack}, C{file-chunk} and
C{file-upload} carry the file's id.  An offer is sent right after a
L{chat.client.session.SYNC_LINE}; the server carries out a connection's
lines in order, so the first answer after that line's C{mode} event is the
offer's.  Errors carry no id: a file error goes to the transfer its text
names (C{file 7: ...}; acknowledgements wait for the server's disk, so
answers to chunks and gets may overtake each other), a
C{checksum-mismatch} to the upload whose last byte was acknowledged, and
failing those to the oldest chunk, get or resume not answered yet.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chat.units import human_size

if TYPE_CHECKING:
    from _hashlib import HASH

_T = TypeVar("_T")

# Bytes per chunk, both ways (the server's limit).
CHUNK_SIZE = 65536
# Chunks sent and not acknowledged yet, at most.
UPLOAD_WINDOW = 16
# /file get requests not answered yet, at most.
DOWNLOAD_WINDOW = 8
# Bytes read at a time when hashing a whole file in a thread.
HASH_BLOCK = 1 << 20
# A file-chunk announcing more raw bytes than this is a broken frame.
MAX_RAW = 1 << 20
# Seconds between two progress lines of a script, at least (unless another
# PROGRESS_STEP percent went by).
PROGRESS_INTERVAL = 1.0
PROGRESS_STEP = 10
# Errors that answer /file chunk, get or resume (the others are chat's).
FILE_ERRORS = frozenset({"bad-offset", "checksum-mismatch", "no-such-file"})
# Upload states.
HASHING, READY, OFFERING, RESUMING, SENDING = (
    "hashing",
    "ready",
    "offering",
    "resuming",
    "sending",
)
# Download states.
PREPARING, FETCHING = "preparing", "fetching"
# Terminal states, both ways.
DONE, FAILED = "done", "failed"

# "file 7: the server has 131072 bytes; send from there ..."


class ThreadRunner(Protocol):
    """
    Runs blocking work off the reactor thread:
    L{twisted.internet.threads.deferToThread}, or a synchronous stand-in in
    tests.
    """

    def __call__(self, work: Callable[[], _T], /) -> Deferred[_T]: ...


class Wire(Protocol):
    """
    The connection, as transfers use it.
    """

    def send(self, text: str) -> None: ...

    def send_frame(self, text: str, data: bytes) -> None: ...


class TransferView(Protocol):
    """
    The parts of a view that transfers report to.
    """

    def show(self, event: dict[str, Any]) -> None: ...

    def notice(self, text: str) -> None: ...

    def error(self, text: str) -> None: ...

    def progress(self, progress: Progress) -> None: ...


def human_time(seconds: float) -> str:
    """
    A duration, to the second (a tenth under one): C{0.4 s}, C{2 s},
    C{3 min 5 s}, C{1 h 2 min}.
    """
    if seconds < 0.95:
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


@dataclass(frozen=True)
class Progress:
    """
    Where one transfer is, for a progress bar or line.

    @ivar key: the transfer's number in this client (server ids come late).
    @ivar sending: an upload (else a download).
    @ivar rate: bytes per second lately, if known.
    @ivar left: seconds to go at that rate, if known.
    @ivar elapsed: seconds since the transfer's data started to flow.
    @ivar state: L{SENDING} or L{FETCHING} while running, L{DONE},
        L{FAILED}.
    @ivar at: the clock's time of this report.
    """

    key: int
    sending: bool
    name: str
    peer: str
    done: int
    size: int
    rate: float | None
    left: float | None
    elapsed: float
    state: str
    at: float

    @property
    def running(self) -> bool:
        return self.state not in (DONE, FAILED)

    @property
    def percent(self) -> int:
        return 100 if self.size <= 0 else min(100, self.done * 100 // self.size)

    def describe(self) -> str:
        """
        C{sending report.pdf to bob: 45% 12.3 MiB/s 2 s left} while running;
        C{sent report.pdf to bob: 2.0 MiB in 3 s (700.0 KiB/s)} at the end.
        """
        if self.sending:
            verb, done_verb, where = "sending", "sent", "to"
        else:
            verb, done_verb, where = "receiving", "received", "from"
        what = f"{self.name} {where} {self.peer}"
        if self.state == DONE:
            line = f"{done_verb} {what}: {human_size(self.size)}"
            if self.elapsed > 0:
                rate = self.size / self.elapsed
                line += f" in {human_time(self.elapsed)} ({human_size(rate)}/s)"
            return line
        pace = self.pace()
        return f"{verb} {what}: {self.percent}%" + (f" {pace}" if pace else "")

    def pace(self) -> str:
        """
        C{12.3 MiB/s 2 s left}, or as much of it as is known.
        """
        words = []
        if self.rate is not None:
            words.append(f"{human_size(self.rate)}/s")
        if self.left is not None:
            words.append(f"{human_time(self.left)} left")
        return " ".join(words)


class ProgressThrottle:
    """
    Decide which progress reports become lines: the first, then at most
    one per L{PROGRESS_INTERVAL} unless another L{PROGRESS_STEP} percent
    went by, and the last.
    """

    def __init__(
        self, interval: float = PROGRESS_INTERVAL, step: int = PROGRESS_STEP
    ) -> None:
        self._interval = interval
        self._step = step
        self._last: dict[int, tuple[float, int]] = {}

    def due(self, progress: Progress) -> bool:
        if not progress.running:
            self._last.pop(progress.key, None)
            return progress.state == DONE
        last = self._last.get(progress.key)
        step = progress.percent // self._step
        if (
            last is None
            or progress.at - last[0] >= self._interval
            or step > last[1] // self._step
        ):
            self._last[progress.key] = (progress.at, progress.percent)
            return True
        return False


def safe_name(name: str, ident: int) -> str:
    """
    A file name from a peer, made safe to create in a directory: no
    directory part, no control characters, not empty, C{.} or C{..}, at
    most 200 characters.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    if name in ("", ".", ".."):
        name = f"file-{ident}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= 10:
            name = f"{stem[: 199 - len(ext)]}.{ext}"
        else:
            name = name[:200]
    return name


def numbered(name: str, number: int) -> str:
    """
    C{report.pdf} as the C{number}th copy: C{report (1).pdf}.
    """
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({number})"
    return f"{stem} ({number}).{ext}"


def place(part: str, directory: str, name: str) -> str:
    """
    Move C{part} to C{name} in C{directory}, or to C{name (1)}, C{name (2)}
    ... if taken: an existing file is never replaced (a hard link fails if
    the name exists; without hard links, the name is checked first).

    @return: the final path.
    """
    for number in itertools.count():
        path = os.path.join(directory, numbered(name, number) if number else name)
        try:
            os.link(part, path)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if os.path.lexists(path):
                continue
            os.rename(part, path)
            return path
        os.unlink(part)
        return path
    raise AssertionError("unreachable")


def hash_file(path: str) -> tuple[int, str]:
    """
    The size and SHA-256 (hex) of the file at C{path}, read in blocks.
    Blocking: run it in a thread.
    """
    size, digest = hash_prefix(path, sys.maxsize)
    return size, digest.hexdigest()


def hash_prefix(path: str, length: int) -> tuple[int, HASH]:
    """
    The SHA-256 state after the first C{length} bytes of C{path} (fewer if
    the file is shorter), and how many were read.  Blocking: run it in a
    thread.
    """
    digest = hashlib.sha256()
    count = 0
    with open(path, "rb") as f:
        while count < length:
            block = f.read(min(HASH_BLOCK, length - count))
            if not block:
                break
            digest.update(block)
            count += len(block)
    return count, digest


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class _Transfer:
    """
    What uploads and downloads share: size, bytes done, and the rate.
    """

    state: str
    sending: bool

    def __init__(self, key: int, name: str, peer: str, size: int) -> None:
        self.key = key
        self.name = name
        self.peer = peer
        self.size = size
        self.done = 0
        self.ident: int | None = None
        self.file: BinaryIO | None = None
        # Data flowed this long before the current run (earlier runs).
        self._elapsed = 0.0
        # The current run: since when, from which byte.
        self._since: float | None = None
        self._since_done = 0

    def started(self, now: float) -> None:
        """
        Data starts (or starts again) to flow.
        """
        self._since = now
        self._since_done = self.done

    def paused(self, now: float) -> None:
        """
        Data stops flowing (the connection dropped, or it is finished).
        """
        if self._since is not None:
            self._elapsed += now - self._since
            self._since = None

    def progress(self, now: float) -> Progress:
        rate = left = None
        elapsed = self._elapsed
        if self._since is not None:
            run = now - self._since
            elapsed += run
            moved = self.done - self._since_done
            if run > 0 and moved > 0:
                rate = moved / run
                if self.done < self.size:
                    left = (self.size - self.done) / rate
        return Progress(
            key=self.key,
            sending=self.sending,
            name=self.name,
            peer=self.peer,
            done=self.done,
            size=self.size,
            rate=rate,
            left=left,
            elapsed=elapsed,
            state=self.state,
            at=now,
        )

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    @property
    def label(self) -> str:
        return self.name if self.ident is None else f"{self.name} (file {self.ident})"


class Upload(_Transfer):
    """
    A file being offered and sent (to L{peer}: a name or a room).

    @ivar next_offset: the next byte to send.
    @ivar server_offset: the most bytes the server said it has, on this
        connection, if it said.
    @ivar in_flight: chunks sent and not answered yet.
    @ivar resyncing: a chunk went to the wrong offset: wait for the answers
        to those in flight, then go on from L{server_offset}.
    """

    sending = True

    def __init__(self, key: int, path: str, target: str) -> None:
        super().__init__(key, os.path.basename(path) or path, target, 0)
        self.path = path
        self.sha256: str | None = None
        self.state = HASHING
        self.next_offset = 0
        self.server_offset: int | None = None
        self.in_flight = 0
        self.resyncing = False


class Download(_Transfer):
    """
    An accepted offer being fetched into C{part}.

    @ivar next_request: the offset of the next C{/file get}.
    @ivar outstanding: gets not answered yet.
    @ivar resyncing: a chunk came for another offset than expected: wait
        for the answers to the outstanding gets, then ask from L{done}.
    """

    sending = False

    def __init__(
        self, key: int, offer: Offer, directory: str, name: str, part: str
    ) -> None:
        super().__init__(key, name, offer.sender, offer.size)
        self.offer = offer
        self.ident = offer.ident
        self.directory = directory
        self.part = part
        self.state = PREPARING
        # Bytes of a partial copy found when accepted (from an earlier run).
        self.found = 0
        self.hasher: HASH | None = None
        self.next_request = 0
        self.outstanding = 0
        self.resyncing = False


@dataclass(frozen=True)
class Offer:
    """
    A file offered to the user (C{file-offer}, or listed by C{file-list}).
    """

    ident: int
    sender: str
    name: str
    size: int
    sha256: str
    room: str | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Offer | None:
        ident, size = _int(event.get("id")), _int(event.get("size"))
        sha = event.get("sha256")
        if ident is None or size is None or not isinstance(sha, str):
            return None
        room = event.get("room")
        return cls(
            ident,
            str(event.get("from") or "?"),
            str(event.get("name") or ""),
            size,
            sha.lower(),
            room if isinstance(room, str) and room else None,
        )


class Transfers:
    """
    The file transfers of one session.

    The session hands it the file events, the errors it may own and the
    raw chunks; it sends through the L{Wire} it is L{attach}ed to, which
    the session does once joined, and L{detach}es on a lost connection.
    Whatever was under way goes on after the next L{attach}: uploads with
    C{/file resume}, downloads from what the partial copy holds.
    """

    _log = Logger()

    def __init__(
        self,
        view: TransferView,
        clock: IReactorTime,
        *,
        barrier: Callable[[Callable[[], None]], None],
        run_in_thread: ThreadRunner,
        download_dir: str = ".",
        auto_accept: bool = False,
        idle: Callable[[], None] = lambda: None,
    ) -> None:
        """
        @param barrier: sends L{chat.client.session.SYNC_LINE} and calls its
            argument when the answer comes.
        @param idle: called when the last running transfer ends.
        """
        self.view = view
        self.download_dir = download_dir
        self.auto_accept = auto_accept
        self._clock = clock
        self._barrier = barrier
        self._run = run_in_thread
        self._idle = idle
        self._wire: Wire | None = None
        self._keys = itertools.count(1)
        self._uploads: list[Upload] = []
        self._downloads: dict[int, Download] = {}
        self.offers: dict[int, Offer] = {}
        # Names of files sent, by id, for file-delivered and file-declined.
        self._sent: dict[int, str] = {}
        # Offers whose barrier was answered: the next answer is theirs.
        self._armed: deque[Upload] = deque()
        # (kind, id) of chunk, get and resume lines not answered yet, in
        # the order sent.
        self._awaiting: deque[tuple[str, int]] = deque()
        # Ids of transfers stopped here: late answers are dropped.
        self._cancelled: set[int] = set()
        # Chunks still to come for downloads stopped here, by id.
        self._unwanted: dict[int, int] = {}

    # State.

    def busy(self) -> bool:
        """
        Whether an upload or a download is under way (a script waits for
        them before quitting).
        """
        return bool(self._uploads or self._downloads)

    def upload(self, ident: int) -> Upload | None:
        return next((u for u in self._uploads if u.ident == ident), None)

    # The connection.

    def attach(self, wire: Wire) -> None:
        """
        Joined: offer, resume and fetch what is under way.
        """
        self._wire = wire
        for upload in list(self._uploads):
            if upload.state == READY:
                self._offer(upload)
            elif upload.ident is not None and upload.state in (SENDING, RESUMING):
                upload.state = RESUMING
                self._request(wire, "resume", upload.ident)
        for download in list(self._downloads.values()):
            if download.state == FETCHING:
                self._continue(download)

    def detach(self) -> None:
        """
        The connection is gone: nothing sent is answered any more.
        """
        self._wire = None
        self._armed.clear()
        self._awaiting.clear()
        self._unwanted.clear()
        now = self._clock.seconds()
        for upload in self._uploads:
            upload.in_flight = 0
            upload.resyncing = False
            upload.server_offset = None  # the resume's answer will say
            upload.paused(now)
            if upload.state == OFFERING:
                upload.state = READY
        for download in self._downloads.values():
            download.outstanding = 0
            download.resyncing = False
            download.paused(now)

    def close(self) -> None:
        """
        The session is over: close the files (partial copies stay, for a
        later C{/accept} to go on from).
        """
        for upload in self._uploads:
            upload.close()
        for download in self._downloads.values():
            download.close()

    def _request(self, wire: Wire, kind: str, ident: int, *rest: int) -> None:
        """
        Send C{/file KIND ID ...}, a line with exactly one answer.
        """
        self._awaiting.append((kind, ident))
        wire.send(" ".join([f"/file {kind} {ident}", *map(str, rest)]))

    def _answered(self, kind: str, ident: int) -> None:
        try:
            self._awaiting.remove((kind, ident))
        except ValueError:
            pass

    # Commands.

    def send(self, target: str, path: str) -> None:
        """
        C{/send TARGET PATH}: hash the file in a thread, then offer it.
        """
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            why = "no such file" if not os.path.exists(path) else "not a file"
            self.view.error(f"ERROR: cannot send {path}: {why}")
            return
        upload = Upload(next(self._keys), path, target)
        self._uploads.append(upload)
        self.view.notice(f"preparing {upload.name} for {target} (checksum)")
        d = self._run(lambda: hash_file(path))
        d.addCallbacks(
            lambda result: self._hashed(upload, *result),
            lambda failure: self._fail(
                upload, f"cannot read {path}: {failure.getErrorMessage()}"
            ),
        )

    def _hashed(self, upload: Upload, size: int, sha256: str) -> None:
        if upload.state != HASHING:
            return  # cancelled meanwhile
        upload.size = size
        upload.sha256 = sha256
        upload.state = READY
        if self._wire is not None:
            self._offer(upload)

    def _offer(self, upload: Upload) -> None:
        assert self._wire is not None
        upload.state = OFFERING
        self._barrier(lambda: self._armed.append(upload))
        self._wire.send(
            f"/file offer {upload.peer} {upload.size} {upload.sha256} {upload.name}"
        )

    def accept(self, ident: int, directory: str | None = None) -> None:
        """
        C{/accept ID [DIR]}: fetch an offered file into C{directory} (the
        download directory if C{None}), going on from a partial copy
        left there.
        """
        offer = self.offers.get(ident)
        if offer is None:
            self.view.error(
                f"ERROR: no file {ident} is offered to you; /file list lists them."
            )
            return
        if ident in self._downloads:
            self.view.error(f"ERROR: file {ident} is already being received.")
            return
        self._cancelled.discard(ident)
        # Absolute: the path printed when it is saved is then usable anywhere.
        directory = os.path.abspath(os.path.expanduser(directory or self.download_dir))
        if not os.path.isdir(directory):
            self.view.error(f"ERROR: {directory} is not a directory.")
            return
        name = safe_name(offer.name, ident)
        taken = {d.part for d in self._downloads.values()}
        part = os.path.join(directory, name + ".part")
        for number in itertools.count(1):
            if part not in taken:
                break
            part = os.path.join(directory, numbered(name, number) + ".part")
        download = Download(next(self._keys), offer, directory, name, part)
        self._downloads[ident] = download
        self.view.notice(
            f"receiving {name} ({human_size(offer.size)}) from {offer.sender} "
            f"into {directory}"
        )
        try:
            have = os.path.getsize(part)
        except OSError:
            have = 0
        if 0 < have <= offer.size:
            # A partial copy from an earlier try: hash it (in a thread),
            # then fetch the rest.
            d = self._run(lambda: hash_prefix(part, have))
            d.addCallbacks(
                lambda result: self._prepared(download, *result),
                lambda failure: self._fail(
                    download, f"cannot read {part}: {failure.getErrorMessage()}"
                ),
            )
        else:
            self._prepared(download, 0, hashlib.sha256())

    def _prepared(self, download: Download, have: int, hasher: HASH) -> None:
        """
        The partial copy holds C{have} bytes, hashed into C{hasher}: open it
        (cut to that) and fetch the rest.
        """
        if download.state not in (PREPARING, FETCHING):
            return  # cancelled meanwhile
        download.close()
        try:
            download.file = open(download.part, "ab")
            download.file.truncate(have)
        except OSError as e:
            self._fail(download, f"cannot write {download.part}: {e.strerror}")
            return
        download.hasher = hasher
        download.done = have
        if download.state == PREPARING:
            download.found = have
        download.state = FETCHING
        if have:
            self.view.notice(
                f"going on with {download.name} from {human_size(have)} "
                f"already in {download.part}"
            )
        self._continue(download)

    def decline(self, ident: int) -> bool:
        """
        C{/decline ID}: forget the offer, stop receiving it.

        @return: whether C{/file decline ID} should be sent.
        """
        self.offers.pop(ident, None)
        download = self._downloads.get(ident)
        if download is not None:
            self._stop(download)
        return True

    def cancel(self, ident: int) -> bool:
        """
        C{/cancel ID}: stop sending (C{/file cancel ID} is sent: the server
        drops the upload) or receiving (the partial copy is deleted; the
        offer stays) file C{ident}.

        @return: whether C{/file cancel ID} should be sent.
        """
        upload = self.upload(ident)
        if upload is not None:
            self._cancelled.add(ident)
            self._drop(upload)
            self.view.notice(f"cancelled sending {upload.label}")
            return True
        download = self._downloads.get(ident)
        if download is not None:
            self._stop(download)
            self.view.notice(f"cancelled receiving {download.label}")
            return False
        self.view.error(f"ERROR: no transfer of file {ident} is under way.")
        return False

    # Events.

    def event_received(self, event: dict[str, Any]) -> bool:
        """
        A server event: C{True} if it was a transfer's and is dealt with
        (shown if it says something), C{False} for the session to handle.
        """
        kind = event["type"]
        ident = _int(event.get("id"))
        if self._armed and (
            kind == "error"
            or (kind == "file-upload" and (ident is None or not self.upload(ident)))
        ):
            self._offer_answered(self._armed.popleft(), event)
            return True
        match kind:
            case "file-upload" if ident is not None:
                # The answer to /file resume, or sent before bad-offset.
                self._answered("resume", ident)
                upload = self.upload(ident)
                if upload is not None:
                    self._restart(upload, _int(event.get("offset")))
                return True
            case "file-ack" if ident is not None:
                self._answered("chunk", ident)
                upload = self.upload(ident)
                if upload is not None:
                    self._acked(upload, _int(event.get("offset")))
                return True
            case "file-sent" if ident is not None:
                upload = self.upload(ident)
                if upload is not None:
                    self._sent[ident] = upload.name
                    self._finished(upload)
                self.view.show(self._named(event, ident))
                return True
            case "file-delivered" | "file-declined" if ident is not None:
                if ident not in self._cancelled:  # the answer to /file cancel
                    self.view.show(self._named(event, ident))
                return True
            case "file-offer":
                self._offered(event)
                return True
            case "file-list":
                for entry in event.get("offers") or ():
                    offer = Offer.from_event(entry) if isinstance(entry, dict) else None
                    if offer is not None:
                        self.offers[offer.ident] = offer
                self.view.show(event)
                return True
            case "error":
                return self._error(event, ident)
        return str(kind).startswith("file-")

    def _named(self, event: dict[str, Any], ident: int) -> dict[str, Any]:
        """
        C{event} with the name of the file sent as C{ident} added as
        C{file}, if known.
        """
        name = self._sent.get(ident)
        return event if name is None else {**event, "file": name}

    def _offer_answered(self, upload: Upload, event: dict[str, Any]) -> None:
        ident = _int(event.get("id"))
        if event["type"] == "error" or ident is None:
            text = event.get("text") or "refused"
            self._fail(upload, f"cannot send {upload.name} to {upload.peer}: {text}")
            return
        upload.ident = ident
        if upload.state != OFFERING:
            self._abandon(upload, None)  # ended while the offer was on its way
            return
        try:
            upload.file = open(upload.path, "rb")
        except OSError as e:
            self._abandon(upload, f"cannot read {upload.path}: {e.strerror}")
            return
        self._restart(upload, _int(event.get("offset")) or 0)

    def _restart(self, upload: Upload, offset: int | None) -> None:
        """
        The server says where the upload stands (the answer to an offer or
        a resume, or after a chunk at a bad offset): go on from there once
        the chunks still in flight are answered; if nobody said where, ask.
        """
        if upload.state not in (OFFERING, RESUMING, SENDING):
            return
        self._heard(upload, offset)
        if upload.in_flight:
            upload.resyncing = True
            return
        if upload.server_offset is None:
            if upload.state != RESUMING and self._wire is not None:
                assert upload.ident is not None
                upload.state = RESUMING
                self._request(self._wire, "resume", upload.ident)
            return
        upload.resyncing = False
        upload.next_offset = upload.done = upload.server_offset
        if upload.state != SENDING:
            upload.state = SENDING
            upload.started(self._clock.seconds())
        self._report(upload)
        self._pump(upload)

    @staticmethod
    def _heard(upload: Upload, offset: int | None) -> None:
        """
        The server said it has C{offset} bytes.  On one connection its
        count only grows, but what it says may come out of order (an
        acknowledgement waits for the disk, a C{bad-offset} does not), so
        the most it said is what it has.
        """
        if offset is not None:
            known = upload.server_offset
            upload.server_offset = offset if known is None else max(known, offset)

    def _acked(self, upload: Upload, offset: int | None) -> None:
        upload.in_flight = max(0, upload.in_flight - 1)
        self._heard(upload, offset)
        if upload.server_offset is not None:
            upload.done = upload.server_offset
        if upload.resyncing:
            self._restart(upload, None)
            return
        self._report(upload)
        self._pump(upload)

    def _pump(self, upload: Upload) -> None:
        """
        Send chunks while the window has room: read each only now.
        """
        wire = self._wire
        while (
            wire is not None
            and upload.state == SENDING
            and not upload.resyncing
            and upload.in_flight < UPLOAD_WINDOW
            and upload.next_offset < upload.size
        ):
            assert upload.file is not None and upload.ident is not None
            length = min(CHUNK_SIZE, upload.size - upload.next_offset)
            try:
                upload.file.seek(upload.next_offset)
                data = upload.file.read(length)
            except OSError as e:
                self._abandon(upload, f"cannot read {upload.path}: {e.strerror}")
                return
            if not data:
                self._abandon(upload, f"{upload.path} got shorter while being sent")
                return
            self._awaiting.append(("chunk", upload.ident))
            wire.send_frame(
                f"/file chunk {upload.ident} {upload.next_offset} {len(data)}", data
            )
            upload.in_flight += 1
            upload.next_offset += len(data)

    def _offered(self, event: dict[str, Any]) -> None:
        offer = Offer.from_event(event)
        if offer is None:
            self.view.show(event)
            return
        again = offer.ident in self._downloads
        self.offers[offer.ident] = offer
        if again:
            return  # offered again at login: being received already
        self.view.show(event)
        if self.auto_accept:
            self.accept(offer.ident)

    def _continue(self, download: Download) -> None:
        """
        Fetch from the end of the partial copy (an empty file, or one
        already whole, is checked at once).
        """
        if self._wire is None:
            return
        if download.done >= download.size:
            self._verify(download)
            return
        assert download.file is not None
        download.file.flush()
        download.next_request = download.done
        download.started(self._clock.seconds())
        self._report(download)
        self._fetch(download)

    def _fetch(self, download: Download) -> None:
        """
        Ask for chunks while fewer than L{DOWNLOAD_WINDOW} are outstanding.
        """
        wire = self._wire
        while (
            wire is not None
            and download.state == FETCHING
            and not download.resyncing
            and download.outstanding < DOWNLOAD_WINDOW
            and download.next_request < download.size
        ):
            assert download.ident is not None
            self._request(wire, "get", download.ident, download.next_request)
            download.outstanding += 1
            download.next_request += CHUNK_SIZE

    def chunk_received(self, event: dict[str, Any], data: bytes) -> None:
        """
        A C{file-chunk} and its raw bytes, all of them.
        """
        ident, offset = _int(event.get("id")), _int(event.get("offset"))
        if ident is None:
            return
        self._answered("get", ident)
        if self._unwanted.get(ident):
            self._unwanted[ident] -= 1  # asked for before a cancel
            return
        download = self._downloads.get(ident)
        if download is None or download.state != FETCHING:
            return  # cancelled, or not asked for
        download.outstanding = max(0, download.outstanding - 1)
        if offset != download.done:
            download.resyncing = True
        elif not download.resyncing:
            if not data and download.done < download.size:
                self._fail(download, f"the server sent no data at offset {offset}")
                return
            if download.done + len(data) > download.size:
                self._fail(download, "the server sent more than the file's size")
                self._remove_part(download)
                return
            assert download.file is not None and download.hasher is not None
            try:
                download.file.write(data)
            except OSError as e:
                self._fail(download, f"cannot write {download.part}: {e.strerror}")
                return
            download.hasher.update(data)
            download.done += len(data)
        if download.resyncing and not download.outstanding:
            download.resyncing = False
            download.next_request = download.done
        if download.done >= download.size:
            self._verify(download)
            return
        self._report(download)
        self._fetch(download)

    def _verify(self, download: Download) -> None:
        """
        All bytes are in: check the SHA-256, then give the file its name
        (never replacing a file) and tell the server.
        """
        assert download.hasher is not None and download.ident is not None
        download.close()
        if download.hasher.hexdigest() != download.offer.sha256:
            if download.found and self._wire is not None:
                self.view.notice(
                    f"{download.part} held the start of another file; "
                    f"fetching {download.name} again from the start"
                )
                download.found = 0
                self._prepared(download, 0, hashlib.sha256())
                return
            self._remove_part(download)
            self._fail(
                download,
                f"{download.label} from {download.peer} is damaged (its SHA-256 "
                "does not match the offer); the partial file was deleted",
            )
            return
        try:
            path = place(download.part, download.directory, download.name)
        except OSError as e:
            self._fail(download, f"cannot save {download.name}: {e.strerror}")
            return
        self.offers.pop(download.ident, None)
        if self._wire is not None:
            self._wire.send(f"/file done {download.ident}")
        self._finished(download)
        self.view.show(
            {
                "type": "file-saved",
                "id": download.ident,
                "from": download.peer,
                "name": download.offer.name,
                "size": download.size,
                "path": path,
            }
        )

    def _error(self, event: dict[str, Any], ident: int | None) -> bool:
        """
        An error that answers a transfer's line: its C{id} says which, or
        else, for a file error code, the oldest line not answered yet (for
        C{checksum-mismatch}, which comes after the last chunk's
        C{file-ack}, the upload whose last byte went).
        """
        code = event.get("code")
        if ident is not None:
            kind = next((k for k, i in self._awaiting if i == ident), "")
            self._answered(kind, ident)
        elif code not in FILE_ERRORS:
            return False
        elif code == "checksum-mismatch" and (complete := self._complete_upload()):
            kind, ident = "chunk", complete
        elif self._awaiting:
            kind, ident = self._awaiting.popleft()
        else:
            return False
        if ident in self._cancelled:
            # The answer to a line sent before the transfer was stopped.
            if kind == "get" and self._unwanted.get(ident):
                self._unwanted[ident] -= 1
            return True
        text = str(event.get("text") or code)
        upload = self.upload(ident)
        if upload is not None:
            upload.in_flight = max(0, upload.in_flight - (kind == "chunk"))
            if code == "bad-offset":
                offset = _int(event.get("offset"))
                if offset is not None and offset >= upload.size:
                    offset = None  # not where to go on from: ask (resume)
                self._restart(upload, offset)
            else:
                self._fail(
                    upload, f"sending {upload.label} to {upload.peer} failed: {text}"
                )
            return True
        download = self._downloads.get(ident)
        if download is not None:
            download.outstanding = max(0, download.outstanding - (kind == "get"))
            self._fail(
                download,
                f"receiving {download.label} from {download.peer} failed: {text}",
            )
            self._remove_part(download)
            return True
        return False

    def _complete_upload(self) -> int | None:
        """
        The id of the upload whose last chunk was acknowledged, if any.
        """
        for upload in self._uploads:
            if upload.state == SENDING and upload.done >= upload.size:
                return upload.ident
        return None

    # Endings.

    def _report(self, transfer: _Transfer) -> None:
        self.view.progress(transfer.progress(self._clock.seconds()))

    def _drop(self, transfer: _Transfer) -> None:
        """
        Forget C{transfer} (its file closed); tell the view and, if it was
        the last one, the session.
        """
        transfer.paused(self._clock.seconds())
        transfer.close()
        if isinstance(transfer, Upload):
            if transfer in self._uploads:
                self._uploads.remove(transfer)
        elif isinstance(transfer, Download) and transfer.ident is not None:
            self._downloads.pop(transfer.ident, None)
        if transfer.state not in (DONE, FAILED):
            transfer.state = FAILED
        self._report(transfer)
        if not self.busy():
            self._idle()

    def _finished(self, transfer: _Transfer) -> None:
        transfer.done = transfer.size
        transfer.state = DONE
        self._drop(transfer)

    def _fail(self, transfer: _Transfer, why: str) -> None:
        """
        Say why C{transfer} failed, and end it; answers still to come for
        it are ignored.
        """
        if transfer.state in (DONE, FAILED):
            return
        self._ignore_answers(transfer)
        transfer.state = FAILED
        self.view.error(f"ERROR: {why}")
        self._drop(transfer)

    def _abandon(self, upload: Upload, why: str | None) -> None:
        """
        Give up an upload the server has: it is told to drop it, and its
        late answers are ignored.
        """
        assert upload.ident is not None
        self._cancelled.add(upload.ident)
        if self._wire is not None:
            self._wire.send(f"/file cancel {upload.ident}")
        if why is not None:
            self._fail(upload, why)
        else:
            self._drop(upload)

    def _stop(self, download: Download) -> None:
        """
        Stop a download here (C{/cancel}, C{/decline}): its partial copy is
        deleted, and the chunks already asked for are read and dropped.
        """
        self._ignore_answers(download)
        self._drop(download)
        self._remove_part(download)

    def _ignore_answers(self, transfer: _Transfer) -> None:
        """
        Late answers for C{transfer} are dropped, and the chunks its
        outstanding gets bring are read and dropped.
        """
        if transfer.ident is not None:
            self._cancelled.add(transfer.ident)
            if isinstance(transfer, Download) and transfer.outstanding:
                self._unwanted[transfer.ident] = transfer.outstanding

    def _remove_part(self, download: Download) -> None:
        download.close()
        try:
            os.unlink(download.part)
        except FileNotFoundError:
            pass
        except OSError as e:
            self._log.warn("cannot remove {part}: {e}", part=download.part, e=e)

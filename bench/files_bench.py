#!/usr/bin/env python3
"""
Issue 6 benchmark: a large file through txchat over loopback.

Starts C{twistd chat} as users do (fresh --database and spool in a temporary
directory), then:

  1. two users chat (C{ping} sends C{pong*<time>} private messages 100 times
     a second, C{pong} reads them): latency with no transfer, as a baseline;
  2. C{sender} uploads a file of --mib MiB to C{receiver} (16 chunks of
     64 KiB in flight), then C{receiver} downloads it (8 chunks in flight)
     and checks its SHA-256; the chat goes on throughout;
  3. reports upload and download MB/s, the server's peak RSS (VmHWM)
     against its RSS before the transfer, and chat latency percentiles
     before and during the transfer.

The bench clients are plain blocking sockets in threads, written against
the wire format of docs/protocol.rst, so that they measure the server and
not chat-client.

  make bench-files                    # 100 MiB
  make bench-files ARGS="--mib 20"    # quicker
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from run_bench import (
    HOST,
    append_record,
    free_port_like,
    keep_or_remove,
    log,
    results_file,
    run_header,
    stop_server,
    twistd_argv,
    wait_listening,
)

CHUNK = 64 * 1024


class Conn:
    """
    One blocking connection speaking the line protocol, with raw reads for
    file chunks.
    """

    def __init__(self, port: int, name: str, json_mode: bool) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.readline()  # greeting
        if json_mode:
            self.send(b"/mode json\n")
            self.until(lambda e: e.get("type") == "prompt")
        self.send(name.encode() + b"\n")
        self.readline()  # welcome

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def readline(self) -> bytes:
        while b"\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def read_raw(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def event(self) -> dict[str, Any]:
        while True:
            line = self.readline()
            if line.startswith(b"{"):
                event: dict[str, Any] = json.loads(line)
                if event.get("type") == "error":
                    raise RuntimeError(f"server error: {event}")
                return event

    def until(self, match: Any) -> dict[str, Any]:
        while True:
            event = self.event()
            if match(event):
                return event


def rss_kib(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0])
    return out


def cpu_s(pid: int) -> float:
    """
    CPU seconds (user + system) used by process C{pid} so far.
    """
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chat_latency(port: int, stop: threading.Event, out: list[float]) -> None:
    """
    ping sends C{pong*<monotonic ns>} 100 times a second; pong measures.
    """
    ping = Conn(port, "ping", json_mode=False)
    pong = Conn(port, "pong", json_mode=False)

    def reader() -> None:
        while True:
            try:
                line = pong.readline()
            except OSError:
                return
            if line.startswith(b"[private] ping: "):
                sent = int(line.rsplit(b" ", 1)[1])
                out.append((time.monotonic_ns() - sent) / 1e6)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    while not stop.is_set():
        ping.send(b"pong*%d\n" % time.monotonic_ns())
        time.sleep(0.01)
    time.sleep(0.2)
    ping.sock.close()
    pong.sock.close()


def make_file(path: Path, mib: int) -> str:
    hasher = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(mib * 16):
            block = os.urandom(CHUNK)
            hasher.update(block)
            f.write(block)
    return hasher.hexdigest()


def upload(conn: Conn, path: Path, size: int, digest: str, window: int) -> float:
    t0 = time.perf_counter()
    conn.send(f"/file offer receiver {size} {digest} {path.name}\n".encode())
    file_id = conn.until(lambda e: e["type"] == "file-upload")["id"]
    acked = sent = 0
    with path.open("rb") as f:
        while acked < size:
            while sent < size and sent - acked < window * CHUNK:
                data = f.read(CHUNK)
                conn.send(b"/file chunk %d %d %d\n" % (file_id, sent, len(data)) + data)
                sent += len(data)
            event = conn.until(lambda e: e["type"] in ("file-ack", "file-sent"))
            if event["type"] == "file-ack":
                acked = event["offset"]
    conn.until(lambda e: e["type"] == "file-sent")
    return time.perf_counter() - t0


def download(conn: Conn, target: Path, window: int) -> tuple[float, str, int]:
    offer = conn.until(lambda e: e["type"] == "file-offer")
    file_id, size = offer["id"], offer["size"]
    hasher = hashlib.sha256()
    t0 = time.perf_counter()
    asked = got = 0
    with target.open("wb") as f:
        while got < size:
            while asked < size and asked - got < window * CHUNK:
                conn.send(b"/file get %d %d\n" % (file_id, asked))
                asked += CHUNK
            header = conn.until(lambda e: e["type"] == "file-chunk")
            data = conn.read_raw(header["size"])
            hasher.update(data)
            f.write(data)
            got += len(data)
    elapsed = time.perf_counter() - t0
    conn.send(b"/file done %d\n" % file_id)
    return elapsed, hasher.hexdigest(), size


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))], 2)

    return {
        "n": len(values),
        "p50": at(0.5),
        "p99": at(0.99),
        "max": round(values[-1], 2),
        "mean": round(statistics.fmean(values), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="txchat-files-"))
    port = free_port_like(args.port)
    argv = twistd_argv(
        args.venv,
        port,
        work,
        "--database",
        str(work / "chat.sqlite3"),
        "--max-file-size",
        str(args.mib + 1),
        backlog=None,
    )
    env = dict(os.environ)
    if args.txchat_pythonpath:
        env["PYTHONPATH"] = str(args.txchat_pythonpath)
    log("server:", shlex.join(argv))
    server = subprocess.Popen(argv, cwd=work, env=env)
    try:
        problem = wait_listening(server, port)
        if problem is not None:
            raise RuntimeError(problem)
        pid = server.pid
        source = work / "payload.bin"
        log(f"making a {args.mib} MiB file")
        digest = make_file(source, args.mib)
        size = source.stat().st_size

        latencies: list[float] = []
        stop = threading.Event()
        chat = threading.Thread(target=chat_latency, args=(port, stop, latencies))
        chat.start()
        time.sleep(3)
        idle = percentiles(latencies)
        latencies.clear()
        before = rss_kib(pid)

        sender = Conn(port, "sender", json_mode=True)
        receiver = Conn(port, "receiver", json_mode=True)
        log("uploading")
        cpu0 = cpu_s(pid)
        up_s = upload(sender, source, size, digest, args.up_window)
        cpu1 = cpu_s(pid)
        log("downloading")
        down_s, got_digest, got_size = download(
            receiver, work / "copy.bin", args.down_window
        )
        cpu2 = cpu_s(pid)
        during = percentiles(latencies)
        after = rss_kib(pid)
        stop.set()
        chat.join(10)
        result = {
            "mib": args.mib,
            "up_window": args.up_window,
            "down_window": args.down_window,
            "bytes": size,
            "upload_s": round(up_s, 3),
            "upload_mb_per_s": round(size / up_s / 1e6, 1),
            "download_s": round(down_s, 3),
            "download_mb_per_s": round(size / down_s / 1e6, 1),
            "identical": got_digest == digest and got_size == size,
            "server_cpu_util_upload": round((cpu1 - cpu0) / up_s, 2),
            "server_cpu_util_download": round((cpu2 - cpu1) / down_s, 2),
            "server_rss_kib_before": before["VmRSS"],
            "server_hwm_kib_before": before["VmHWM"],
            "server_hwm_kib_after": after["VmHWM"],
            "server_peak_growth_kib": after["VmHWM"] - before["VmRSS"],
            "chat_latency_ms_idle": idle,
            "chat_latency_ms_during": during,
        }
        sender.sock.close()
        receiver.sock.close()
        return result
    finally:
        stop_server(server, timeout=10)
        keep_or_remove(work, args.keep, "work directory")


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mib", type=int, default=100, help="file size in MiB")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--up-window", type=int, default=16, help="chunks unacked")
    ap.add_argument("--down-window", type=int, default=8, help="gets outstanding")
    ap.add_argument("--port", type=int, default=27401)
    ap.add_argument("--venv", type=Path, default=repo / ".venv" / "bin")
    ap.add_argument("--txchat-pythonpath", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    out = results_file("files")
    common = run_header("files", argv)
    ok = True
    for k in range(args.repeat):
        result = run(args)
        result.update(common, bench_repeat=k)
        append_record(out, result)
        ok &= bool(result["identical"])
        print(json.dumps(result, indent=1))
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())

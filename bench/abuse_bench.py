#!/usr/bin/env python3
"""
Issue 15 benchmark: can one client hurt the others?

Two well-behaved users (from 127.0.0.2 and 127.0.0.3) play private-message
ping-pong, one ping in flight at a time, while one abuser (from
127.0.0.9, so that per-address limits tell it apart, as they would on a
network) does one of:

  none      nothing: the figures to compare with
  flood     logs in and broadcasts as fast as its socket takes it (reading
            and dropping what it is sent, as rel.py's flooder does)
  hoard     opens up to --hoard connections first and never names them;
            the two users connect after it
  noread    logs in and never reads, while a third user (127.0.0.4)
            broadcasts --rate lines a second to everyone

For each build and abuse: the ping-pong's round trips, p50 and p99 in ms,
whether both users could log in, whether they were disconnected, how many
of the abuser's lines or connections the server took, and the server's
peak RSS.  One fresh server per run, started as users start it (the
build's twistd, a real SQLite file); every wait is bounded.

  .venv/bin/python bench/abuse_bench.py \\
      --build after=.venv/bin/twistd --build before=../rel-before/.venv/bin/twistd

Results are appended to bench/results/<date>-abuse.jsonl and printed as a
table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
USER_A, USER_B, CHATTER, ABUSER = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"
ABUSES = ("none", "flood", "hoard", "noread")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def no_web(twistd: str) -> list[str]:
    """
    C{--no-web} if the build has a web door (issue 17), which would take
    port 8080 otherwise.
    """
    usage = subprocess.run(
        [twistd, "chat", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    return ["--no-web"] if "--no-web" in usage else []


class Server:
    """
    One txchat build, started with its own twistd on a free port.
    """

    def __init__(self, twistd: str, extra: Sequence[str], workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "twistd.log"
        argv = [
            twistd,
            "--nodaemon",
            "--pidfile=",
            f"--logfile={self.log}",
            "chat",
            "--listen",
            f"tcp:{self.port}:interface=127.0.0.1",
            "--database",
            str(workdir / "chat.sqlite3"),
            *no_web(twistd),
            *extra,
        ]
        self.process = subprocess.Popen(
            argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.peak_rss = 0

    async def ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return
        raise RuntimeError("the server did not start")

    async def watch_memory(self) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, rss_kib(self.process.pid))
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def connect(
    port: int, source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 10
    )


async def log_in(
    port: int, source: str, name: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await connect(port, source)
    writer.write(name.encode() + b"\n")
    await asyncio.wait_for(reader.readuntil(b"* Hello "), 10)
    return reader, writer


async def ping_pong(
    port: int, seconds: float, interval: float, result: dict[str, Any]
) -> None:
    """
    pa pings pb privately, pb answers; one ping in flight, one every
    C{interval} seconds at most (people, not a flood: a guest may send 4
    lines a second for ever).
    """
    try:
        ra, wa = await log_in(port, USER_A, "pa")
        rb, wb = await log_in(port, USER_B, "pb")
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
        result["logged_in"] = False
        result["error"] = repr(e)
        return
    result["logged_in"] = True

    async def answer() -> None:
        while True:
            line = await rb.readline()
            if not line:
                return
            at = line.find(b"ping ")
            if at >= 0:
                wb.write(b"pa*pong " + line[at + 5 :].strip() + b"\n")

    answering = asyncio.ensure_future(answer())
    rtts: list[float] = []
    lost = 0
    end = time.monotonic() + seconds
    seq = 0
    try:
        while time.monotonic() < end:
            seq += 1
            token = b"pong %d" % seq
            sent = time.monotonic()
            wa.write(b"pb*ping %d\n" % seq)
            try:
                while True:
                    line = await asyncio.wait_for(ra.readline(), 5)
                    if not line:
                        raise ConnectionError("closed")
                    if token in line:
                        break
            except TimeoutError:
                lost += 1
                continue
            rtts.append((time.monotonic() - sent) * 1000)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - sent)))
    except (ConnectionError, OSError) as e:
        result["disconnected"] = repr(e)
    finally:
        answering.cancel()
        wa.close()
        wb.close()
    result["round_trips"] = len(rtts)
    result["lost"] = lost
    if rtts:
        rtts.sort()
        result["p50_ms"] = round(statistics.median(rtts), 3)
        result["p99_ms"] = round(rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))], 3)


async def drain(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def flood(port: int, stop: asyncio.Event, result: dict[str, Any]) -> None:
    reader, writer = await log_in(port, ABUSER, "flooder")
    reading = asyncio.ensure_future(drain(reader))
    line = b"flood " + b"f" * 60 + b"\n"
    block = line * 1000
    sent = 0
    try:
        while not stop.is_set():
            writer.write(block)
            await asyncio.wait_for(writer.drain(), 1)
            sent += 1000
    except TimeoutError:
        # Its socket stopped taking more: the server stopped reading.
        await stop.wait()
    except (ConnectionError, OSError) as e:
        result["abuser_closed"] = repr(e)
    finally:
        reading.cancel()
        writer.close()
        result["flood_lines_written"] = sent


async def hoard(port: int, count: int, result: dict[str, Any]) -> list[Any]:
    held = []
    refused = 0
    for _ in range(count):
        try:
            reader, writer = await connect(port, ABUSER)
        except (TimeoutError, OSError):
            refused += 1
            if refused > 20:
                break
            continue
        held.append((reader, writer))
    await asyncio.sleep(1)

    async def closed(reader: asyncio.StreamReader) -> bool:
        try:
            while await asyncio.wait_for(reader.read(65536), 1):
                pass
        except (TimeoutError, OSError):
            return False
        return True

    shut = await asyncio.gather(*(closed(reader) for reader, _ in held))
    open_ = shut.count(False)
    result["hoard_opened"] = len(held)
    result["hoard_open_after_1s"] = open_
    return held


async def no_reader(
    port: int, rate: int, stop: asyncio.Event, result: dict[str, Any]
) -> None:
    sleeper_reader, sleeper = await log_in(port, ABUSER, "sleeper")
    sleeper.transport.pause_reading()  # type: ignore[attr-defined]
    sleeper.transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
    )
    reader, writer = await log_in(port, CHATTER, "chatter")
    reading = asyncio.ensure_future(drain(reader))
    sent = 0
    text = b"news " + b"n" * 200 + b"\n"
    try:
        while not stop.is_set():
            writer.write(text * max(1, rate // 100))
            sent += max(1, rate // 100)
            await asyncio.sleep(0.01)
    except (ConnectionError, OSError) as e:
        result["chatter_closed"] = repr(e)
    finally:
        reading.cancel()
        result["broadcast_lines"] = sent
        writer.close()
        sleeper.close()


async def one_run(
    label: str, twistd: str, extra: Sequence[str], abuse: str, args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {"build": label, "abuse": abuse}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(twistd, extra, Path(tmp))
        try:
            await server.ready()
            watching = asyncio.ensure_future(server.watch_memory())
            stop = asyncio.Event()
            background = None
            held: list[Any] = []
            if abuse == "hoard":
                held = await hoard(server.port, args.hoard, result)
            elif abuse == "flood":
                background = asyncio.ensure_future(flood(server.port, stop, result))
            elif abuse == "noread":
                background = asyncio.ensure_future(
                    no_reader(server.port, args.rate, stop, result)
                )
            await asyncio.sleep(1)
            await ping_pong(server.port, args.seconds, args.interval, result)
            stop.set()
            if background is not None:
                try:
                    await asyncio.wait_for(background, 10)
                except (TimeoutError, OSError, ConnectionError) as e:
                    result["abuser_error"] = repr(e)
            for _, writer in held:
                writer.close()
            watching.cancel()
            result["peak_rss_mib"] = round(server.peak_rss / 1024, 1)
            result["server_alive"] = server.process.poll() is None
        finally:
            server.stop()
            log = server.log.read_text(errors="replace") if server.log.exists() else ""
            result["tracebacks_in_log"] = log.count("Traceback")
    return result


def table(records: Sequence[dict[str, Any]]) -> str:
    head = (
        "| build | abuse | users in | round trips | p50 ms | p99 ms | lost "
        "| abuser | peak RSS MiB |"
    )
    rows = [head, "|" + "---|" * 9]
    for r in records:
        if r["abuse"] == "flood":
            abuser = f"{r.get('flood_lines_written', 0):,} lines written"
            if "abuser_closed" in r:
                abuser += ", disconnected"
        elif r["abuse"] == "hoard":
            abuser = (
                f"{r.get('hoard_opened', 0)} opened, "
                f"{r.get('hoard_open_after_1s', 0)} open after 1 s"
            )
        elif r["abuse"] == "noread":
            abuser = f"{r.get('broadcast_lines', 0):,} broadcasts to it"
        else:
            abuser = "—"
        rows.append(
            f"| {r['build']} | {r['abuse']} | {'yes' if r.get('logged_in') else 'NO'} "
            f"| {r.get('round_trips', 0):,} | {r.get('p50_ms', '—')} "
            f"| {r.get('p99_ms', '—')} | {r.get('lost', '—')} | {abuser} "
            f"| {r.get('peak_rss_mib', '—')} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--build",
        action="append",
        required=True,
        help="LABEL=TWISTD[ EXTRA ARGS]: a build to run (repeatable)",
    )
    parser.add_argument("--abuse", default=",".join(ABUSES))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--hoard", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=500)
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    records = []
    for abuse in args.abuse.split(","):
        for build in args.build:
            label, _, rest = build.partition("=")
            twistd, *extra = shlex.split(rest)
            record = asyncio.run(one_run(label, twistd, extra, abuse, args))
            print(json.dumps(record), flush=True)
            records.append(record)
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / f"{time.strftime('%Y-%m-%d')}-abuse.jsonl", "a") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    print(table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

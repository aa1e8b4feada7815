#!/usr/bin/env python3
"""
Issue 15 benchmark: how long an honest login waits while many connections
guess passwords.

Starts the real C{twistd chat} (the one next to this interpreter) on
127.0.0.1, on a free port, in a fresh directory; registers NAMES names to
guess at (taken in turn, so that the burst keeps the hashing threads busy
for the whole run rather than throttling itself out) and one honest name;
then runs a burst of GUESSERS connections,
each from one of ADDRESSES loopback addresses (127.0.0.2 and up: Linux
lets a client bind any 127/8 address, so the per-address limits apply to
each of them and not to the honest client on 127.0.0.1), each sending a
name and a wrong password in one write as soon as its last one was
answered, for DURATION seconds.  From WARMUP seconds on, the honest client
logs in (name and password in one write), quits and logs in again, and
the time from its write to its welcome line is measured.

  .venv/bin/python bench/login_burst_bench.py
  .venv/bin/python bench/login_burst_bench.py --guessers 200 --addresses 50

Prints one JSON object: the honest logins' latencies (min, median, max, in
seconds; the target is under 1 s) and how the guesses were answered (wrong
password, throttled, busy).  The figures depend on Argon2's cost on this
machine and on what else runs on it: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HOST = "127.0.0.1"
#: Extra options for the server: the burst's connections all come from
#: loopback, past the per-address connection limits.
SERVER_ARGS: tuple[str, ...] = ("--exempt", "127.0.0.1/32")
TWISTD = str(Path(sys.executable).with_name("twistd"))
PASSWORD = "honest-password-1"
_PORT = re.compile(rb"ChatFactory starting on (\d+)")
_TIMEOUT = 30.0


async def start_server(directory: str) -> tuple[asyncio.subprocess.Process, int]:
    """
    C{twistd chat} in C{directory} on a free loopback port, and the port.
    """
    process = await asyncio.create_subprocess_exec(
        TWISTD,
        "--nodaemon",
        "--pidfile=",
        "--logfile=-",
        "chat",
        "--listen",
        f"tcp:0:interface={HOST}",
        "--database",
        os.path.join(directory, "chat.sqlite3"),
        "--no-web",
        *SERVER_ARGS,
        cwd=directory,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), _TIMEOUT)
        if not line:
            raise SystemExit("the server exited before listening")
        match = _PORT.search(line)
        if match:
            break
    # Keep draining its log, so that it never blocks writing it.
    asyncio.get_running_loop().create_task(_drain(process.stdout))
    return process, int(match.group(1))


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


class Client:
    """
    One line connection, from a given loopback address.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, source: str = HOST) -> Client:
        reader, writer = await asyncio.open_connection(
            HOST, port, local_addr=(source, 0)
        )
        client = cls(reader, writer)
        await client.until("name")
        return client

    async def until(self, *marks: str) -> str:
        """
        Read lines until one containing any of C{marks}; that line.
        """
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), _TIMEOUT)
            if not raw:
                raise ConnectionError("closed")
            line = raw.decode("utf-8", "replace")
            if any(mark in line for mark in marks):
                return line

    def send(self, text: str) -> None:
        self.writer.write(text.encode())

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def register(port: int, name: str) -> None:
    """
    Log in as the guest C{name}, register it and quit.
    """
    client = await Client.open(port)
    client.send(f"{name}\r\n/register {PASSWORD}\r\n")
    await client.until("now registered")
    client.send("/quit\r\n")
    await client.until("Goodbye")
    await client.close()


async def guess(
    port: int,
    source: str,
    names: list[str],
    first: int,
    until: float,
    seen: Counter[str],
) -> None:
    """
    Guess passwords of C{names} (from the C{first}th on, in turn) from
    C{source} until C{until}, each guess as soon as the last was answered.
    """
    client = await Client.open(port, source)
    tries = 0
    try:
        while time.monotonic() < until:
            name = names[(first + tries) % len(names)]
            tries += 1
            client.send(f"{name}\r\nguess-{tries}\r\n")
            answer = await client.until("ERROR", "Hello")
            kind = re.sub(r"\d+", "N", answer.split(";")[0].strip())
            seen[kind] += 1
            await client.until("name")
    finally:
        await client.close()


async def honest(port: int, start: float, until: float) -> list[float]:
    """
    Log in as C{honest} again and again from 127.0.0.1 between C{start}
    and C{until}; how long each took.
    """
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    latencies: list[float] = []
    while time.monotonic() < until:
        client = await Client.open(port)
        began = time.monotonic()
        client.send(f"honest\r\n{PASSWORD}\r\n")
        answer = await client.until("Hello honest", "ERROR")
        latencies.append(time.monotonic() - began)
        if "ERROR" in answer:
            print(f"honest login refused: {answer.strip()}", file=sys.stderr)
        client.send("/quit\r\n")
        await client.close()
        await asyncio.sleep(0.5)
    return latencies


async def main(options: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as directory:
        process, port = await start_server(directory)
        try:
            names = [f"victim{i}" for i in range(options.names)]
            for name in ["honest", *names]:
                await register(port, name)
            began = time.monotonic()
            until = began + options.duration
            seen: Counter[str] = Counter()
            guessers = [
                guess(
                    port,
                    f"127.0.0.{2 + i % options.addresses}",
                    names,
                    i * 7,
                    until,
                    seen,
                )
                for i in range(options.guessers)
            ]
            results = await asyncio.gather(
                honest(port, began + options.warmup, until),
                *guessers,
                return_exceptions=True,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), _TIMEOUT)
    latencies = results[0]
    if isinstance(latencies, BaseException):
        raise latencies
    assert latencies is not None
    errors = [r for r in results[1:] if isinstance(r, BaseException)]
    return {
        "guessers": options.guessers,
        "addresses": options.addresses,
        "names": options.names,
        "duration_s": options.duration,
        "server_args": list(SERVER_ARGS),
        "honest_logins": len(latencies),
        "honest_min_s": round(min(latencies), 4) if latencies else None,
        "honest_median_s": round(statistics.median(latencies), 4)
        if latencies
        else None,
        "honest_max_s": round(max(latencies), 4) if latencies else None,
        "guesses_answered": dict(seen),
        "guessers_failed": len(errors),
    }


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--guessers", type=int, default=100)
    parser.add_argument("--addresses", type=int, default=100)
    # Enough names that the guessers keep the hashing threads busy for the
    # whole run (5 checked guesses per name a minute).
    parser.add_argument("--names", type=int, default=200)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    options = parser.parse_args()
    if not 1 <= options.addresses <= 250:
        parser.error("--addresses: 1 to 250 (127.0.0.2 to 127.0.0.251)")
    return options


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse())), indent=2))

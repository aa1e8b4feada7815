#!/usr/bin/env python3
"""
Issue 18: txchat over TLS against ngIRCd and InspIRCd, side by side in one
run, with the figures the issue names, the table of medians and txchat's
ratio to each.

  fanout100   fanout 100 10 auto over TLS: deliveries/s (>= the better daemon)
  fanout1000  fanout 1000 10 auto over TLS: deliveries/s (>= the better daemon)
  dm          dm 50 auto over TLS: round trips/s (>= ngIRCd)
  dm-plain    dm 50 auto over plain TCP: round trips/s (>= ngIRCd)
  conn        conn 2000 over TLS, handshake included: logins/s (>= the better)
  mem         conn 5000 over TLS: KiB per idle connection (<= the better)
  burst       10,000 TCP connects at once to the TLS listener: how many took
              1 s or more (a dropped SYN, retried after a second; target 0),
              and the kernel's ListenOverflows over the burst

Every server is started fresh for every run through the shared bench's
run.py (its --server-cmd: one server process per run, CPU and RSS from
/proc), on ports of our own (--port-base): txchat from --twistd (a venv
with txchat installed; an emptied database for every start, --exempt
127.0.0.0/8 as every bench here), the daemons from Debian with the shared
bench's configuration files (configs/*.conf; the ports in them replaced).
Over TLS, run.py's throw-away EC P-256 certificate (made by openssl for this
run) and chatload --tls --tls-insecure, as ../shared/bench/tls.sh does.
Connect windows as in the shared baseline: txchat 100, ngIRCd 10 (its
backlog is 10), InspIRCd 1000.  "auto" counts are calibrated by run.py in
the first repeat, per server; later repeats reuse the count.  Within a
repeat the servers run back to back, their order alternating.

txchat@base (--base-twistd) is another txchat install run beside txchat
(e.g. main before the change), with the ratio txchat/txchat@base.

  python bench/tls_bench.py                              # everything once
  python bench/tls_bench.py --repeat 3 --phases fanout100,dm,conn
  python bench/tls_bench.py --servers txchat,txchat@base \\
      --base-twistd /work/bench-base/.venv/bin/twistd --repeat 3
  python bench/tls_bench.py --quick                      # smoke run, small counts
  python bench/tls_bench.py --report bench/results/<date>-tls.jsonl [--run-id ID]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import shlex
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "bench"
HOST = "127.0.0.1"

# id: (figure, chatload phase, transport, result key, higher is better)
PHASES: dict[str, tuple[str, str, str, str, bool]] = {
    "fanout100": (
        "broadcast to 100 over TLS, deliveries/s",
        "fanout 100 10 auto",
        "tls",
        "deliveries_per_s",
        True,
    ),
    "fanout1000": (
        "broadcast to 1000 over TLS, deliveries/s",
        "fanout 1000 10 auto",
        "tls",
        "deliveries_per_s",
        True,
    ),
    "dm": (
        "private messages over TLS, round trips/s",
        "dm 50 auto",
        "tls",
        "round_trips_per_s",
        True,
    ),
    "dm-plain": (
        "private messages over plain TCP, round trips/s",
        "dm 50 auto",
        "plain",
        "round_trips_per_s",
        True,
    ),
    "conn": (
        "logins/s over TLS (2,000, handshake included)",
        "conn 2000",
        "tls",
        "logins_per_s",
        True,
    ),
    "mem": (
        "KiB per idle TLS connection (5,000)",
        "conn 5000",
        "tls",
        "kib_per_conn",
        False,
    ),
    "burst": (
        "10,000 connecting at once: connects >= 1 s",
        "burst 10000",
        "tls",
        "slow_connects",
        False,
    ),
}
QUICK = {
    "fanout100": "fanout 100 10 100",
    "fanout1000": "fanout 1000 10 10",
    "dm": "dm 50 200",
    "dm-plain": "dm 50 200",
    "conn": "conn 300",
    "mem": "conn 500",
    "burst": "burst 1000",
}
SERVERS = ("txchat", "txchat@base", "ngircd", "inspircd")
DAEMONS = ("ngircd", "inspircd")
NAMES = {"ngircd": "ngIRCd", "inspircd": "InspIRCd"}
WINDOW = {"txchat": 100, "txchat@base": 100, "ngircd": 10, "inspircd": 1000}


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def shared_run() -> Any:
    """
    The shared bench's run.py, imported (for its TLS material and Server).
    """
    sys.path.insert(0, str(SHARED))
    import run  # type: ignore[import-not-found]

    return run


class Setup:
    """
    What every run of one invocation shares: ports, the certificate, the
    rendered daemon configurations, the work directory.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="tls-bench-"))
        self.run = shared_run()
        self.tls = self.run.tls_material("ec", parent=str(self.work))
        base = args.port_base
        # server -> (plain port, TLS port); ngIRCd's TLS config opens a
        # plain port too (base + 9).
        self.ports = {
            "txchat": (base + 1, base + 2),
            "txchat@base": (base + 3, base + 4),
            "ngircd": (base + 5, base + 6),
            "inspircd": (base + 7, base + 8),
        }
        self.spare = base + 9

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def config(self, name: str, replace: dict[str, str]) -> str:
        text = (SHARED / "configs" / name).read_text()
        text = text.replace("@TLS_DIR@", self.tls["dir"])
        for old, new in replace.items():
            text = text.replace(old, new)
        path = self.work / name
        path.write_text(text)
        return str(path)

    def command(self, server: str, transport: str) -> tuple[str, int, str]:
        """
        (command, port, run.py --proto) of C{server} on C{transport}.
        """
        plain, tls = self.ports[server]
        port = tls if transport == "tls" else plain
        if server.startswith("txchat"):
            twistd = self.args.twistd if server == "txchat" else self.args.base_twistd
            fresh = self.work / f"db-{server}"
            if transport == "tls":
                listen = (
                    f"ssl:{port}:interface={HOST}:privateKey={self.tls['key']}"
                    f":certKey={self.tls['cert']}"
                )
            else:
                listen = f"tcp:{port}:interface={HOST}"
            argv = [
                "env",
                "-u",
                "PYTHONPATH",
                twistd,
                "--nodaemon",
                "--pidfile=",
                f"--logfile={fresh}/txchat.log",
                "chat",
                "--listen",
                listen,
                "--exempt",
                "127.0.0.0/8",
                "--database",
                f"{fresh}/chat.sqlite3",
                *shlex.split(self.args.txchat_args),
            ]
            empty = shlex.join(["rm", "-rf", str(fresh)])
            make = shlex.join(["mkdir", str(fresh)])
            cmd = shlex.join(
                ["sh", "-c", f"{empty} && {make} && exec {shlex.join(argv)}"]
            )
            return cmd, port, "txchat"
        if server == "ngircd":
            if transport == "tls":
                conf = self.config(
                    "ngircd-tls.conf",
                    {"26633": str(port), "26643": str(self.spare)},
                )
            else:
                conf = self.config("ngircd.conf", {"26603": str(port)})
            return shlex.join(["/usr/sbin/ngircd", "-n", "-f", conf]), port, "irc"
        name = "inspircd-tls.conf" if transport == "tls" else "inspircd.conf"
        conf = self.config(name, {"26634": str(port), "26604": str(port)})
        daemon = [
            "/usr/sbin/inspircd",
            f"--config={conf}",
            "--nofork",
            "--nopid",
            "--runasroot",
        ]
        return shlex.join(daemon), port, "irc"


def run_py(
    setup: Setup, server: str, phase: str, words: str
) -> tuple[dict[str, Any] | None, str]:
    """
    One run.py call: one run of C{words} against C{server}.  Returns the
    result and the phase words it ran (the calibrated count for "auto").
    """
    transport = PHASES[phase][2]
    cmd, port, proto = setup.command(server, transport)
    argv = [
        sys.executable,
        str(SHARED / "run.py"),
        "--server-cmd",
        cmd,
        "--port",
        str(port),
        "--proto",
        proto,
        "--label",
        f"{server}-{transport}",
        "--phase",
        words,
        "--target-s",
        str(setup.args.target_s),
        "--nofile",
        str(setup.args.nofile),
        "--",
        "--conn-window",
        str(WINDOW[server]),
    ]
    if transport == "tls":
        argv += ["--tls", "--tls-insecure"]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=1800, check=False
    )
    result = None
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if not record.get("pilot"):
                result = record
    if result is None:
        log(f"!!! {server} {phase}: no result (rc={done.returncode})")
        log(done.stderr[-2000:])
        return None, words
    ran = words
    if "auto" in words:
        count = result["cmd_chatload"].split()[-1]
        ran = words.replace("auto", count)
    return result, ran


def netstat(names: Sequence[str]) -> dict[str, int]:
    """
    The kernel's TcpExt counters C{names} (machine-wide).
    """
    lines = Path("/proc/net/netstat").read_text().splitlines()
    values: dict[str, int] = {}
    for header, row in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            for key, value in zip(header.split()[1:], row.split()[1:], strict=True):
                if key in names:
                    values[key] = int(value)
    return values


def burst(setup: Setup, server: str, count: int) -> dict[str, Any] | None:
    """
    C{count} non-blocking connects to C{server}'s TLS listener at once: the
    time of each from C{connect} to writable (SYN to SYN-ACK; a dropped SYN
    is retried after 1 s), and the kernel's listen-queue overflows meanwhile.
    """
    run = setup.run
    cmd, port, _ = setup.command(server, "tls")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if count + 100 > hard:
        log(f"!!! burst: fd limit {hard} is below {count} + 100")
        return None
    srv = run.Server(
        shlex.split(cmd), port, nofile=setup.args.nofile, label=f"{server}-burst"
    )
    srv.start()
    counters = ("ListenOverflows", "ListenDrops", "TCPReqQFullDrop")
    sockets: dict[int, tuple[socket.socket, float]] = {}
    times: list[float] = []
    try:
        before = netstat(counters)
        poll = select.epoll()
        start = time.monotonic()
        for _ in range(count):
            s = socket.socket()
            s.setblocking(False)
            t = time.monotonic()
            s.connect_ex((HOST, port))
            sockets[s.fileno()] = (s, t)
            poll.register(s.fileno(), select.EPOLLOUT)
        deadline = start + 30
        pending = set(sockets)
        while pending and time.monotonic() < deadline:
            for fd, _ in poll.poll(0.5):
                if fd in pending:
                    pending.discard(fd)
                    poll.unregister(fd)
                    s, t = sockets[fd]
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        times.append(time.monotonic() - t)
        wall = time.monotonic() - start
        after = netstat(counters)
        rss = run.proc_status(srv.pid).get("VmRSS")
    finally:
        # Closed with a reset: no TIME-WAIT holding thousands of ephemeral
        # ports (where the fixed ports of the next server may lie).
        linger = struct.pack("ii", 1, 0)
        for s, _ in sockets.values():
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.close()
        srv.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    times.sort()
    return {
        "server": f"{server}-tls",
        "phase": "burst",
        "clients": count,
        "connected": len(times),
        "failed": count - len(times),
        "slow_connects": sum(1 for t in times if t >= 1.0) + count - len(times),
        "connect_p50_ms": round(times[len(times) // 2] * 1000, 2) if times else None,
        "connect_p99_ms": round(times[int(len(times) * 0.99)] * 1000, 2)
        if times
        else None,
        "connect_max_ms": round(times[-1] * 1000, 2) if times else None,
        "wall_s": round(wall, 3),
        "kernel": {k: after.get(k, 0) - before.get(k, 0) for k in counters},
        "server_rss_kib": rss,
        "cmd_server": cmd,
    }


def measure(args: argparse.Namespace) -> str:
    """
    Every phase, repeat and server; the results appended to C{args.out}.
    """
    setup = Setup(args)
    run_id = time.strftime("%Y%m%dT%H%M%S")
    git = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    log(f"run {run_id} at {git}; results to {args.out}")
    words_of: dict[tuple[str, str], str] = {}
    try:
        for phase in args.phases:
            for repeat in range(args.repeat):
                order = list(args.servers)
                if repeat % 2:
                    order.reverse()
                for server in order:
                    words = words_of.get(
                        (server, phase),
                        QUICK[phase] if args.quick else PHASES[phase][1],
                    )
                    log(f"=== {phase} {server} ({words}), repeat {repeat + 1}")
                    if phase == "burst":
                        result = burst(setup, server, int(words.split()[1]))
                    else:
                        result, ran = run_py(setup, server, phase, words)
                        words_of[(server, phase)] = ran
                    if result is None:
                        continue
                    result.update(
                        bench_run_id=run_id,
                        bench_git=git,
                        bench_phase=phase,
                        bench_server=server,
                        bench_repeat=repeat,
                        bench_phase_words=words_of.get((server, phase), words),
                        bench_quick=args.quick,
                    )
                    key = PHASES[phase][3]
                    log(
                        f"    {key} = {result.get(key)}"
                        f"  other CPU {result.get('other_procs_cpu_s')}"
                    )
                    with open(args.out, "a") as f:
                        f.write(json.dumps(result) + "\n")
    finally:
        setup.close()
    return run_id


def fmt(value: float | None, key: str) -> str:
    if value is None:
        return "–"
    if key == "kib_per_conn":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def report(path: str, run_id: str | None) -> None:
    """
    The table of medians of one run in C{path} (the last one by default).
    """
    records = [json.loads(line) for line in open(path) if line.strip()]
    if run_id is None:
        run_id = records[-1]["bench_run_id"]
    records = [r for r in records if r.get("bench_run_id") == run_id]
    servers = [s for s in SERVERS if any(r["bench_server"] == s for r in records)]
    print(f"run {run_id} at {records[0]['bench_git']} ({path})")
    head = ["figure", *(NAMES.get(s, s) for s in servers)]
    head += [f"txchat/{NAMES.get(d, d)}" for d in servers if d != "txchat"]
    head.append("target")
    rows = [head]
    for phase, (figure, _, _, key, higher) in PHASES.items():
        values: dict[str, float | None] = {}
        for server in servers:
            got = [
                r[key]
                for r in records
                if r["bench_phase"] == phase
                and r["bench_server"] == server
                and isinstance(r.get(key), (int, float))
            ]
            values[server] = statistics.median(got) if got else None
        if all(v is None for v in values.values()):
            continue
        row = [figure, *(fmt(values[s], key) for s in servers)]
        ours = values.get("txchat")
        for other in servers:
            if other == "txchat":
                continue
            theirs = values[other]
            if ours is None or theirs is None or theirs == 0:
                row.append("–")
            else:
                row.append(f"{ours / theirs:.2f}")
        row.append(verdict(phase, values, higher))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for r in records:
        key = PHASES[r["bench_phase"]][3]
        extra = ""
        if r["bench_phase"] == "burst":
            extra = (
                f" connect p50/p99/max {r['connect_p50_ms']}/{r['connect_p99_ms']}"
                f"/{r['connect_max_ms']} ms, kernel {r['kernel']}"
            )
        elif "server_cpu_s" in r:
            extra = (
                f" server CPU {r.get('server_cpu_util')},"
                f" others {r.get('other_procs_cpu_s')} s"
            )
        print(
            f"  {r['bench_phase']:10} {r['bench_server']:12} #{r['bench_repeat']}"
            f" {key}={r.get(key)} ({r['bench_phase_words']},"
            f" exit {r.get('exit')}){extra}"
        )


def verdict(phase: str, values: dict[str, float | None], higher: bool) -> str:
    ours = values.get("txchat")
    if ours is None:
        return "–"
    if phase == "burst":
        return "0: met" if ours == 0 else "0: not met"

    if phase in ("dm", "dm-plain"):
        best = values.get("ngircd")
        name = "ngIRCd"
    else:
        daemons = [values[d] for d in DAEMONS if values.get(d) is not None]
        best = (max if higher else min)(daemons) if daemons else None  # type: ignore[type-var]
        name = "the better daemon"
    if best is None:
        return "–"
    met = ours >= best if higher else ours <= best
    sign = ">=" if higher else "<="
    return f"{sign} {name}: {'met' if met else 'not met'}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--servers", default="txchat,ngircd,inspircd")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small fixed counts")
    parser.add_argument("--target-s", type=float, default=7.0)
    parser.add_argument(
        "--twistd", default=str(REPO / ".venv" / "bin" / "twistd"), help="txchat's"
    )
    parser.add_argument("--base-twistd", help="txchat@base's twistd")
    parser.add_argument(
        "--txchat-args", default="", help="more options for both txchat builds"
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=56410,
        help="ports from here to here + 9 (default: %(default)s)",
    )
    parser.add_argument("--nofile", type=int, default=65536)
    parser.add_argument(
        "--out", help="JSON lines (default bench/results/<date>-tls.jsonl)"
    )
    parser.add_argument("--report", metavar="FILE", help="print a run's table again")
    parser.add_argument("--run-id")
    args = parser.parse_args(argv)
    if args.report:
        report(args.report, args.run_id)
        return 0
    args.servers = [s for s in args.servers.split(",") if s]
    args.phases = [p for p in args.phases.split(",") if p]
    for s in args.servers:
        if s not in SERVERS:
            parser.error(f"unknown server {s}")
    for p in args.phases:
        if p not in PHASES:
            parser.error(f"unknown phase {p}")
    if "txchat@base" in args.servers and not args.base_twistd:
        parser.error("txchat@base needs --base-twistd")
    for tool in (args.twistd, args.base_twistd):
        if tool and not os.access(tool, os.X_OK):
            parser.error(f"{tool}: not executable")
    subprocess.run(["make", "-s", "-C", str(SHARED)], check=True)
    if args.out is None:
        suffix = "-quick" if args.quick else ""
        args.out = str(
            REPO / "bench" / "results" / f"{time.strftime('%F')}-tls{suffix}.jsonl"
        )
    run_id = measure(args)
    report(args.out, run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""
Issue 5 benchmark: what delivering a room message costs.

The issue asks that delivering one room message cost O(members) with the
lowest possible constant, and nothing proportional to the number of rooms
or users elsewhere.  Three parts, all against C{twistd chat} started as
users start it (a fresh --database in a temporary directory per run):

  fanout   One room of 10, 100 and 1000 members (chatload 'fanout N 10 M':
           N members, 10 of them send), through the shared run.py, and the
           same phase as a plain broadcast to the main channel (no room),
           alternated run by run: deliveries/s, room messages/s, and the
           ratio room/broadcast.  1.0 = a room delivery costs what a
           broadcast delivery costs.
  many     100 rooms of 10 at once: one server started here, 100 chatload
           processes ('fanout 10 10 M', room #rK, names rK_0..rK_9) released
           together with --sync; the aggregate deliveries/s over the common
           window.  Again with 1000 idle users logged in (all in room #idle).
  idle     One room of 10, alone and with 1000 idle rooms (one member each,
           10 idle users in 100 rooms each): is anything proportional to
           the number of rooms?

Every run is appended as one JSON line to C{bench/results/<date>-rooms.jsonl}
(C{--quick}: C{<date>-rooms-quick.jsonl}); at the end a Markdown table of
medians is printed.

  make bench-rooms                           # everything once, ~3 minutes
  make bench-rooms ARGS="--repeat 2"         # ~4 minutes
  make bench-rooms ARGS=--quick              # smoke run, ~30 seconds
  make bench-rooms ARGS="--txchat-pythonpath . --parts many"
  python bench/rooms_bench.py --report bench/results/2026-11-21-rooms.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import selectors
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from run_bench import (
    HOST,
    TXCHAT_EXTRA,
    append_record,
    call_run_py,
    chat_env,
    ensure_chatload,
    fixed_phase,
    fmt,
    installed_chat,
    keep_or_remove,
    load_run,
    log,
    machine_busy_s,
    median,
    own_tree_cpu_s,
    per_unit_us,
    port_free,
    raise_nofile,
    results_file,
    run_header,
    stop_server,
    twistd_argv,
    wait_listening,
)

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# Other benchmarks use 27100-27199.
PORTS = range(27300, 27400)
CLK_TCK = os.sysconf("SC_CLK_TCK")

PARTS = ("fanout", "many", "idle")

# chatload templates for txchat rooms, on top of run.py's "line" protocol
# and TXCHAT_EXTRA.  The first member gets "* You created #bench; you own
# it.", the others "* You joined #bench (...)": both start with "* You ".
# A room message reaches the other members as "#bench SENDER: TEXT";
# chatload finds its token anywhere in the line.
LOGIN = ["--login", r"{name}\n", *TXCHAT_EXTRA]
JOINED = "* You "


def room_opts(room: str) -> list[str]:
    return [
        "--join",
        rf"/join {room}\n",
        "--joined",
        JOINED,
        "--bcast",
        rf"{room}*{{payload}}\n",
    ]


# part fanout: members of the one room, and the messages per sender in
# --quick (full runs are calibrated by run.py: 'auto').
FANOUT_SIZES = (10, 100, 1000)
FANOUT_SENDERS = 10
FANOUT_QUICK_MSGS = {10: 300, 100: 100, 1000: 10}
FANOUT_VARIANTS = ("room", "broadcast")

# parts many and idle: rooms run at once, members per room, senders per
# room; messages per sender in --quick and in the first pilot of a full run.
MANY = {"rooms": 100, "size": 10, "senders": 10, "quick": 5, "pilot": 20}
IDLE = {"rooms": 1, "size": 10, "senders": 10, "quick": 300, "pilot": 500}
IDLE_ROOMS_PER_USER = 100


# ------------------------------------------------------------------ helpers


def free_port(port: int) -> int:
    """
    C{port} if it is free, else the next free one in 27300-27399.
    """
    for p in [port, *PORTS]:
        if p in PORTS and port_free(p):
            return p
    raise SystemExit(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def server_argv(args: argparse.Namespace, port: int, workdir: Path) -> list[str]:
    database = str(workdir / "chat.sqlite3")
    return twistd_argv(args.venv, port, workdir, "--database", database)


def log_problems(workdir: Path) -> dict[str, Any]:
    """
    Tracebacks and unhandled errors in the server's log.
    """
    path = workdir / "txchat.log"
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"server_log_problems": None}
    bad = [
        line
        for line in lines
        if "Traceback" in line or "Unhandled" in line or "CRITICAL" in line
    ]
    return {"server_log_problems": len(bad), "server_log_first_problems": bad[:5]}


def proc_cpu_s(pid: int) -> float:
    """
    utime + stime of a process, seconds; 0 once it is gone.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
        fields = data[data.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return 0.0


def proc_rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def self_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


# ------------------------------------------------------------------ part fanout


def fanout_run(
    args: argparse.Namespace,
    *,
    variant: str,
    words: str,
    port: int,
    chatload: Path,
) -> dict[str, Any] | None:
    """
    One run.py call: a fresh server, one chatload fanout phase, in the room
    or in the main channel.
    """
    workdir = Path(tempfile.mkdtemp(prefix="txchat-rooms-"))
    argv = server_argv(args, port, workdir)
    if args.txchat_pythonpath is not None:
        argv = ["env", f"PYTHONPATH={args.txchat_pythonpath}", *argv]
    extra = list(TXCHAT_EXTRA)
    if variant == "room":
        extra += room_opts("#bench")
    log(f"--- fanout, {variant}: {words}")
    run = call_run_py(
        args.shared_bench / "run.py",
        server_cmd=shlex.join(argv),
        port=port,
        label=variant,
        phase_words=words,
        timeout=args.timeout,
        chatload=chatload,
        target_s=args.target_s,
        extra=[*extra, *args.chatload_opts],
    )
    final = run.final
    problems = log_problems(workdir)
    keep = args.keep_logs or not final or final[-1].get("exit") != 0
    keep_or_remove(workdir, keep, "server log")
    if not final:
        log(f"!!! fanout {variant} {words}: run.py rc={run.rc}, no result")
        return None
    record: dict[str, Any] = final[-1]
    record.update(problems)
    record.update(
        part="fanout",
        variant=variant,
        room_size=record.get("clients"),
        bench_pilots=len(run.records) - len(final),
        bench_run_py_rc=run.rc,
        bench_other_cpu_s=run.other_cpu_s,
        bench_wall_s=run.wall_s,
    )
    if keep:
        record["server_workdir"] = str(workdir)
    return record


# ------------------------------------------------------------------ own harness


class Server:
    """
    One twistd chat process started here, stopped by its own PID.
    """

    def __init__(self, args: argparse.Namespace, port: int, workdir: Path) -> None:
        argv = server_argv(args, port, workdir)
        self.cmd = shlex.join(argv)
        if args.txchat_pythonpath is not None:
            self.cmd = f"PYTHONPATH={shlex.quote(str(args.txchat_pythonpath))} "
            self.cmd += shlex.join(argv)
        self._out = (workdir / "twistd.out").open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=chat_env(args.txchat_pythonpath),
            cwd=workdir,
        )
        self.pid = self.proc.pid
        problem = wait_listening(self.proc, port)
        if problem is not None:
            self.stop()
            raise RuntimeError(f"{problem}; see {workdir}")

    def stop(self) -> int | None:
        rc = stop_server(self.proc)
        self._out.close()
        return rc


class Lines:
    """
    Lines from the stdout of several child processes, read without
    blocking, every wait bounded.
    """

    def __init__(self, procs: Sequence[subprocess.Popen[bytes]]) -> None:
        self.sel = selectors.DefaultSelector()
        self.bufs: dict[int, bytes] = {}
        self.lines: dict[int, list[tuple[float, str]]] = {}
        self.eof: set[int] = set()
        for i, p in enumerate(procs):
            assert p.stdout is not None
            os.set_blocking(p.stdout.fileno(), False)
            self.sel.register(p.stdout.fileno(), selectors.EVENT_READ, i)
            self.bufs[i] = b""
            self.lines[i] = []

    def poll(self, timeout: float) -> None:
        for key, _ in self.sel.select(max(timeout, 0.0)):
            i = key.data
            try:
                data = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                self.sel.unregister(key.fd)
                self.eof.add(i)
                continue
            now = time.monotonic()
            *done, self.bufs[i] = (self.bufs[i] + data).split(b"\n")
            self.lines[i] += [(now, x.decode(errors="replace")) for x in done]

    def first(self, i: int, prefix: str) -> float | None:
        """
        When process C{i} printed its first line starting with C{prefix}.
        """
        for when, line in self.lines[i]:
            if line.startswith(prefix):
                return when
        return None

    def wait_all(self, who: Sequence[int], prefix: str, deadline: float) -> bool:
        """
        Until every process in C{who} printed a line starting with
        C{prefix} (True), or one of them ended without it, or the deadline
        passed (False).
        """
        while True:
            missing = [i for i in who if self.first(i, prefix) is None]
            if not missing:
                return True
            if any(i in self.eof for i in missing):
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.poll(min(left, 0.5))

    def result(self, i: int) -> dict[str, Any] | None:
        for _, line in reversed(self.lines[i]):
            if line.startswith("{"):
                try:
                    parsed: dict[str, Any] = json.loads(line)
                except ValueError:
                    return None
                return parsed
        return None

    def close(self) -> None:
        self.sel.close()


def go(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """
    Release every chatload waiting at a SYNC point.
    """
    for p in procs:
        if p.poll() is None and p.stdin is not None:
            try:
                p.stdin.write(b"go\n")
                p.stdin.flush()
            except (BrokenPipeError, OSError):
                pass


def open_idle_rooms(port: int, count: int, deadline: float) -> list[socket.socket]:
    """
    Log in idle users C{idle0, idle1, ...} and make each create up to
    L{IDLE_ROOMS_PER_USER} rooms, C{count} rooms in all.  The sockets must
    stay open while the rooms should exist (a guest's empty room goes).
    """
    socks: list[socket.socket] = []
    made = 0
    user = 0
    try:
        while made < count:
            n = min(IDLE_ROOMS_PER_USER, count - made)
            s = socket.create_connection((HOST, port), timeout=10)
            socks.append(s)
            s.sendall(f"idle{user}\n".encode())
            got = b""
            while b"* Hello " not in got:
                got += recv_some(s, deadline)
            s.sendall(b"".join(f"/join #idle{user}_{j}\n".encode() for j in range(n)))
            got = b""
            while got.count(b"* You created #") < n:
                got += recv_some(s, deadline)
                if b"ERROR" in got or b"* You joined" in got:
                    raise RuntimeError(f"idle rooms: unexpected reply {got[-300:]!r}")
            made += n
            user += 1
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def recv_some(s: socket.socket, deadline: float) -> bytes:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("idle rooms: no reply in time")
    s.settimeout(min(left, 10))
    data = s.recv(65536)
    if not data:
        raise ConnectionError("idle rooms: server closed the connection")
    return data


def probe_rooms(args: argparse.Namespace, port: int) -> str | None:
    """
    Start a server, log in, /join a room: C{None} if rooms work, else what
    the server answered.
    """
    workdir = Path(tempfile.mkdtemp(prefix="txchat-rooms-"))
    server = Server(args, port, workdir)
    answer = b""
    try:
        with socket.create_connection((HOST, port), timeout=5) as s:
            deadline = time.monotonic() + 10
            s.sendall(b"probe\n")
            while b"* Hello " not in answer:
                answer += recv_some(s, deadline)
            s.sendall(b"/join #probe\n")
            answer = b""
            while b"\n" + JOINED.encode() not in b"\n" + answer:
                if b"ERROR" in answer:
                    break
                answer += recv_some(s, deadline)
            else:
                return None
    except (OSError, TimeoutError) as e:
        answer += f" ({e})".encode()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return answer.decode(errors="replace")[-300:] or "(nothing)"


def rooms_run(
    args: argparse.Namespace,
    *,
    part: str,
    variant: str,
    rooms: int,
    size: int,
    senders: int,
    msgs: int,
    idle_users: int,
    idle_rooms: int,
    port: int,
    chatload: Path,
) -> dict[str, Any]:
    """
    C{rooms} rooms of C{size} members at once, on one server started here:
    one chatload 'fanout' per room, all released together with --sync.
    Optionally with C{idle_users} idle users logged in (chatload 'conn',
    all in room #idle) and C{idle_rooms} idle rooms, made first.
    """
    workdir = Path(tempfile.mkdtemp(prefix="txchat-rooms-"))
    log(
        f"--- {part}, {variant}: {rooms} room(s) x fanout {size} {senders} {msgs}"
        f"{f', {idle_users} idle users' if idle_users else ''}"
        f"{f', {idle_rooms} idle rooms' if idle_rooms else ''}"
    )
    busy_a, own_a, t_a = machine_busy_s(), own_tree_cpu_s(), time.monotonic()
    server = Server(args, port, workdir)
    procs: list[subprocess.Popen[bytes]] = []
    holder: subprocess.Popen[bytes] | None = None
    idle_socks: list[socket.socket] = []
    errfiles = []
    record: dict[str, Any] = {
        "part": part,
        "variant": variant,
        "rooms": rooms,
        "room_size": size,
        "senders": senders,
        "msgs_per_sender": msgs,
        "idle_users": idle_users,
        "idle_rooms": idle_rooms,
        "cmd_server": server.cmd,
    }
    base = [
        str(chatload),
        "--port",
        str(port),
        "--sync",
        *LOGIN,
    ]
    try:
        t_setup = time.monotonic()
        if idle_rooms:
            idle_socks = open_idle_rooms(port, idle_rooms, t_setup + args.timeout)
            record["idle_rooms_made"] = idle_rooms
        holder_lines = None
        if idle_users:
            hcmd = [
                *base,
                "--timeout",
                str(3 * args.timeout + 60),
                "--prefix",
                "idle_",
                "--conn-join",
                *room_opts("#idle"),
                "conn",
                str(idle_users),
            ]
            record["cmd_idle"] = shlex.join(hcmd[1:])
            holder = subprocess.Popen(
                hcmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            holder_lines = Lines([holder])
            if not holder_lines.wait_all([0], "SYNC ready", t_setup + args.timeout):
                raise RuntimeError("idle users: chatload conn did not get ready")
        for k in range(rooms):
            cmd = [
                *base,
                "--timeout",
                str(args.timeout),
                "--prefix",
                f"r{k}_",
                *room_opts(f"#r{k}"),
                *args.chatload_opts,
                "fanout",
                str(size),
                str(senders),
                str(msgs),
            ]
            if k == 0:
                record["cmd_chatload"] = shlex.join(cmd[1:])
            err = (workdir / f"chatload-{k}.err").open("wb")
            errfiles.append(err)
            procs.append(
                subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err
                )
            )
        lines = Lines(procs)
        everyone = range(len(procs))
        ready = lines.wait_all(everyone, "SYNC ready", t_setup + args.timeout / 2)
        record["setup_s"] = round(time.monotonic() - t_setup, 3)
        if not ready:
            raise RuntimeError(
                "not every chatload got ready: "
                f"{sum(lines.first(i, 'SYNC ready') is not None for i in everyone)}"
                f" of {len(procs)}"
            )
        busy0, self0 = machine_busy_s(), self_cpu_s()
        srv0 = proc_cpu_s(server.pid)
        holder0 = proc_cpu_s(holder.pid) if holder else 0.0
        rss0 = proc_rss_kib(server.pid)
        t_go = time.monotonic()
        go(procs)
        # every room sends its S*M messages; each ends when all arrived
        done = lines.wait_all(everyone, "SYNC done", t_go + args.timeout)
        t_end = time.monotonic()
        busy1, self1 = machine_busy_s(), self_cpu_s()
        srv1 = proc_cpu_s(server.pid)
        holder1 = proc_cpu_s(holder.pid) if holder else 0.0
        record["server_rss_kib_ready"] = rss0
        record["server_rss_kib_done"] = proc_rss_kib(server.pid)
        go(procs)
        lines.wait_all(everyone, "{", time.monotonic() + 30)
        results = [lines.result(i) for i in everyone]
        lines.close()
        if holder is not None and holder_lines is not None:
            go([holder])
            holder_lines.wait_all([0], "{", time.monotonic() + 30)
            idle = holder_lines.result(0) or {}
            holder_lines.close()
            record["idle_users_ready"] = idle.get("ready")
            record["idle_users_closed"] = idle.get("closed_after_ready")
        dones = [lines.first(i, "SYNC done") for i in everyone]
        ends = [d - t_go for d in dones if d is not None]
        span = max(ends) if done and ends else t_end - t_go
        got = [r for r in results if r is not None]
        delivered = sum(r.get("delivered", 0) for r in got)
        sent = sum(r.get("msgs_sent", 0) for r in got)
        srv_cpu = srv1 - srv0
        # chatload's own figure (getrusage over its measurement) is finer
        # than /proc's clock ticks; the idle users' holder from /proc
        gen_cpu = sum(r.get("gen_cpu_s", 0.0) for r in got)
        if holder is not None:
            gen_cpu += holder1 - holder0
        p50s = [r["lat_obs_us"]["p50"] for r in got if r.get("lat_obs_us", {}).get("n")]
        p99s = [r["lat_obs_us"]["p99"] for r in got if r.get("lat_obs_us", {}).get("n")]
        record.update(
            all_done=done,
            chatload_results=len(got),
            chatload_exits=dict(Counter(str(r.get("exit")) for r in got)),
            end_reasons=dict(Counter(str(r.get("end_reason")) for r in got)),
            exit=0
            if done and len(got) == rooms and all(r["exit"] == 0 for r in got)
            else 3,
            msgs_sent=sent,
            expected=sum(r.get("expected", 0) for r in got),
            delivered=delivered,
            lost=sum(r.get("lost", 0) for r in got),
            extra=sum(r.get("extra", 0) for r in got),
            seq_gaps=sum(r.get("seq_gaps", 0) for r in got),
            seq_dups_or_reorders=sum(r.get("seq_dups_or_reorders", 0) for r in got),
            login_failed=sum(r.get("login_failed", 0) for r in got),
            closed_after_ready=sum(r.get("closed_after_ready", 0) for r in got),
            window_s=round(span, 3),
            first_done_s=round(min(ends), 3) if ends else None,
            deliveries_per_s=round(delivered / span, 1) if span > 0 else None,
            msgs_in_per_s=round(sent / span, 1) if span > 0 else None,
            sum_of_rates_deliveries_per_s=round(
                sum(r.get("deliveries_per_s", 0) for r in got), 1
            ),
            server_cpu_s=round(srv_cpu, 3),
            server_cpu_util=round(srv_cpu / span, 3) if span > 0 else None,
            us_per_delivery=round(1e6 * srv_cpu / delivered, 3) if delivered else None,
            gen_cpu_s=round(gen_cpu, 3),
            gen_cpu_util=round(gen_cpu / span, 3) if span > 0 else None,
            # CPU of every other process on the machine in the window
            other_procs_cpu_s=round(
                (busy1 - busy0) - srv_cpu - gen_cpu - (self1 - self0), 3
            ),
            lat_obs_ms_p50=round(statistics.median(p50s) / 1000, 3) if p50s else None,
            lat_obs_ms_p99_max=round(max(p99s) / 1000, 3) if p99s else None,
        )
        if record["exit"]:
            bad = [i for i, r in enumerate(results) if r is None or r.get("exit")]
            record["failed_rooms"] = bad[:20]
            log(f"!!! {len(bad)} room(s) failed, e.g. #r{bad[0] if bad else '?'}")
    finally:
        for p in [*procs, *([holder] if holder else [])]:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"!!! chatload {p.pid} did not die")
        for f in errfiles:
            f.close()
        for s in idle_socks:
            s.close()
        record["server_rc"] = server.stop()
        busy_b, own_b, t_b = machine_busy_s(), own_tree_cpu_s(), time.monotonic()
        record["bench_other_cpu_s"] = round((busy_b - busy_a) - (own_b - own_a), 3)
        record["bench_wall_s"] = round(t_b - t_a, 3)
        record.update(log_problems(workdir))
        keep = args.keep_logs or record.get("exit") != 0
        if keep:
            record["server_workdir"] = str(workdir)
        keep_or_remove(workdir, keep, "server log and chatload stderr")
    return record


def calibrate(
    args: argparse.Namespace, run: Any, pilot: int
) -> tuple[int, list[dict[str, Any]]]:
    """
    Messages per sender so that a run lasts about --target-s, from pilot
    runs (like run.py's 'auto').
    """
    pilots = []
    msgs = pilot
    span = 0.0
    for _ in range(4):
        record = run(msgs)
        record["pilot"] = True
        pilots.append(record)
        span = record.get("window_s") or 0.0
        if record.get("exit") != 0 or span <= 0:
            raise RuntimeError(f"pilot failed: exit={record.get('exit')}")
        if span >= 0.5:
            break
        msgs = int(msgs * min(20.0, 1.0 / max(span, 0.01)))
    return max(2, math.ceil(msgs * args.target_s / span)), pilots


# ------------------------------------------------------------------ report


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.3f}" if a and b else "–"


def fanout_table(records: Sequence[dict[str, Any]]) -> list[str]:
    mine = [r for r in records if r.get("part") == "fanout"]
    if not mine:
        return []
    lines = [
        "| room size | phase | metric | room | broadcast (main channel) "
        "| room/broadcast | runs | lost | other CPU in window |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sorted({r["room_size"] for r in mine}):
        runs = [r for r in mine if r["room_size"] == size]
        by = {v: [r for r in runs if r["variant"] == v] for v in FANOUT_VARIANTS}
        words = runs[0].get("bench_phase_words", "")
        for metric, title in (
            ("deliveries_per_s", "deliveries/s"),
            ("msgs_in_per_s", "messages sent/s"),
            ("us_per_delivery", "server µs per delivery (lower is better)"),
        ):
            if metric == "us_per_delivery":
                med = {v: median([per_unit_us(r) for r in by[v]]) for v in by}
            else:
                med = {v: median([r.get(metric) for r in by[v]]) for v in by}
            room, bcast = med["room"], med["broadcast"]
            lost = sum(r.get("lost", 0) for r in runs)
            failed = sum(1 for r in runs if r.get("exit") != 0)
            n = "/".join(str(len(by[v])) for v in FANOUT_VARIANTS)
            if failed:
                n += f" ({failed} failed)"
            other = max((r.get("other_procs_cpu_s", 0.0) for r in runs), default=0.0)
            lines.append(
                f"| {size} | `{words}` | {title} | {fmt(room)} | {fmt(bcast)} "
                f"| {ratio(room, bcast)} | {n} | {lost} | {fmt(other)} s |"
            )
    return lines


SCENARIO_TITLES = {
    "many": ("100 rooms of 10 at once", "alone", "idle-users"),
    "idle": ("1 room of 10", "alone", "idle-rooms"),
}


def rooms_table(records: Sequence[dict[str, Any]]) -> list[str]:
    mine = [r for r in records if r.get("part") in ("many", "idle")]
    if not mine:
        return []
    lines = [
        "| scenario | metric | alone | with idle load | loaded/alone | runs "
        "| lost | server CPU util | generator CPU util | other CPU in window |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for part in ("many", "idle"):
        runs = [r for r in mine if r["part"] == part]
        if not runs:
            continue
        title, alone, loaded = SCENARIO_TITLES[part]
        by = {v: [r for r in runs if r["variant"] == v] for v in (alone, loaded)}
        load = by[loaded][0] if by[loaded] else {}
        what = (
            f"{load.get('idle_users', 0)} idle users in #idle"
            if part == "many"
            else f"{load.get('idle_rooms', 0)} idle rooms"
        )
        r0 = runs[0]
        scen = (
            f"{title} (`fanout {r0['room_size']} {r0['senders']} "
            f"{r0['msgs_per_sender']}` each); load: {what}"
        )
        for metric, mtitle in (
            ("deliveries_per_s", "deliveries/s"),
            ("msgs_in_per_s", "messages sent/s"),
            ("us_per_delivery", "server µs per delivery (lower is better)"),
        ):
            med = {v: median([r.get(metric) for r in by[v]]) for v in by}
            lost = sum(r.get("lost", 0) for r in runs)
            failed = sum(1 for r in runs if r.get("exit") != 0)
            n = "/".join(str(len(by[v])) for v in by)
            if failed:
                n += f" ({failed} failed)"
            util = " / ".join(
                fmt(median([r.get("server_cpu_util") for r in by[v]])) for v in by
            )
            gen = " / ".join(
                fmt(median([r.get("gen_cpu_util") for r in by[v]])) for v in by
            )
            other = max((r.get("other_procs_cpu_s", 0.0) for r in runs), default=0.0)
            lines.append(
                f"| {scen} | {mtitle} | {fmt(med[alone])} | {fmt(med[loaded])} "
                f"| {ratio(med[loaded], med[alone])} | {n} | {lost} | {util} "
                f"| {gen} | {fmt(other)} s |"
            )
            scen = ""
    return lines


def details(records: Sequence[dict[str, Any]]) -> str:
    out = []
    for r in records:
        us = per_unit_us(r)
        what = (
            r.get("bench_phase_words", "")
            if r.get("part") == "fanout"
            else f"{r.get('rooms')}x fanout {r.get('room_size')} {r.get('senders')} "
            f"{r.get('msgs_per_sender')}"
        )
        out.append(
            f"  {r.get('part'):6} {r.get('variant'):10} {what:28} "
            f"deliveries/s={fmt(r.get('deliveries_per_s'))} "
            f"msgs/s={fmt(r.get('msgs_in_per_s'))} exit={r.get('exit')} "
            f"lost={r.get('lost', 0)} srv_cpu={r.get('server_cpu_util', '–')} "
            f"us/delivery={'–' if us is None else f'{us:.2f}'} "
            f"gen_cpu={r.get('gen_cpu_util', '–')} "
            f"other_procs_cpu_s={r.get('other_procs_cpu_s', '–')} "
            f"log_problems={r.get('server_log_problems', '–')}"
        )
    return "\n".join(out)


def print_tables(records: Sequence[dict[str, Any]]) -> None:
    first = fanout_table(records)
    if first:
        print("\n".join(first))
        print()
    second = rooms_table(records)
    if second:
        print("\n".join(second))
        print()
    print(details(records))


def report(path: Path, run_id: str | None) -> int:
    wanted, chosen = load_run(path, run_id, "rooms_bench.py")
    chosen = [r for r in chosen if not r.get("pilot")]
    git = chosen[0].get("bench_git", {})
    print(
        f"run {wanted}: {len(chosen)} results from {path}; txchat "
        f"{git.get('commit')}"
        f"{' + uncommitted chat/ changes' if git.get('chat_dirty') else ''}\n"
    )
    print_tables(chosen)
    return 0


# ------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--parts", default=",".join(PARTS), help="subset of: %(default)s")
    ap.add_argument(
        "--sizes",
        default=",".join(map(str, FANOUT_SIZES)),
        help="part fanout: room sizes (default: %(default)s)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant")
    ap.add_argument("--quick", action="store_true", help="small counts, smoke test")
    ap.add_argument("--target-s", type=float, default=7.0, help="length of runs")
    ap.add_argument("--timeout", type=float, default=90.0, help="chatload limit")
    ap.add_argument(
        "--idle-users",
        type=int,
        default=1000,
        help="part many: idle users of the loaded variant (0: no such variant)",
    )
    ap.add_argument(
        "--idle-rooms",
        type=int,
        default=1000,
        help="part idle: idle rooms of the loaded variant",
    )
    ap.add_argument(
        "--shared-bench",
        type=Path,
        default=Path(os.environ.get("BENCH_DIR", REPO.parent / "shared" / "bench")),
    )
    ap.add_argument("--venv", type=Path, default=REPO / ".venv" / "bin")
    ap.add_argument(
        "--txchat-pythonpath",
        type=Path,
        metavar="DIR",
        help="import chat from DIR/chat instead of the installed copy",
    )
    ap.add_argument(
        "--first-port", type=int, default=27301, help="in 27300-27399 (27301)"
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep server logs")
    ap.add_argument("--out", type=Path, help="JSON lines file (default: by date)")
    ap.add_argument("--report", type=Path, metavar="JSONL")
    ap.add_argument("--run-id", help="with --report: which run")
    ap.add_argument(
        "chatload_opts", nargs="*", help="after '--': extra chatload options"
    )
    args = ap.parse_args(argv)
    args.part_list = [p.strip() for p in args.parts.split(",") if p.strip()]
    for p in args.part_list:
        if p not in PARTS:
            ap.error(f"unknown part {p!r}; choose from {', '.join(PARTS)}")
    args.size_list = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.first_port not in PORTS:
        ap.error(f"--first-port must be in {PORTS.start}-{PORTS.stop - 1}")
    if args.txchat_pythonpath is not None:
        args.txchat_pythonpath = args.txchat_pythonpath.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return report(args.report, args.run_id)
    args.shared_bench = args.shared_bench.resolve()
    if not (args.shared_bench / "run.py").exists():
        raise SystemExit(f"{args.shared_bench / 'run.py'} not found (--shared-bench)")
    if not (args.venv / "twistd").exists():
        raise SystemExit(f"{args.venv / 'twistd'} missing: run 'make install'")
    chatload = ensure_chatload(args.shared_bench)
    nofile = raise_nofile()
    if nofile < 4096:
        log(f"warning: fd limit {nofile}; 1000-member rooms need ~2100 fds")

    out = results_file("rooms", args.quick, args.out)
    common = run_header(
        "rooms",
        argv,
        bench_quick=args.quick,
        bench_txchat_chat=installed_chat(args.venv, args.txchat_pythonpath),
    )
    run_id = common["bench_run_id"]
    port = free_port(args.first_port)
    log(f"run {run_id}: results -> {out}; port {port}")
    problem = probe_rooms(args, port)
    if problem is not None:
        raise SystemExit(
            f"this txchat has no working rooms: '/join #probe' got {problem!r} "
            f"(chat imported from {common['bench_txchat_chat'].get('path')}; "
            "try --txchat-pythonpath . for the working tree)"
        )

    records: list[dict[str, Any]] = []
    failed = False

    def keep(record: dict[str, Any], k: int) -> None:
        nonlocal failed
        record.update(common)
        record["bench_repeat"] = k
        records.append(record)
        failed |= record.get("exit") != 0
        append_record(out, record)

    if "fanout" in args.part_list:
        words = {
            n: f"fanout {n} {FANOUT_SENDERS} "
            f"{FANOUT_QUICK_MSGS.get(n, 10) if args.quick else 'auto'}"
            for n in args.size_list
        }
        for k in range(args.repeat):
            for n in args.size_list:
                order = FANOUT_VARIANTS if k % 2 == 0 else FANOUT_VARIANTS[::-1]
                for variant in order:
                    port = free_port(port)
                    record = fanout_run(
                        args,
                        variant=variant,
                        words=words[n],
                        port=port,
                        chatload=chatload,
                    )
                    if record is None:
                        failed = True
                        continue
                    # both variants and later repeats: the calibrated count
                    words[n] = fixed_phase(record) or words[n]
                    record["bench_phase_words"] = words[n]
                    keep(record, k)

    scenarios = []
    if "many" in args.part_list:
        scenarios.append(("many", MANY, "idle-users", args.idle_users, 0))
    if "idle" in args.part_list:
        scenarios.append(("idle", IDLE, "idle-rooms", 0, args.idle_rooms))
    for part, shape, loaded, idle_users, idle_rooms in scenarios:
        variants = [("alone", 0, 0)]
        if idle_users or idle_rooms:
            variants.append((loaded, idle_users, idle_rooms))

        def run(
            msgs: int,
            variant: str = "alone",
            users: int = 0,
            rooms: int = 0,
            part: str = part,
            shape: dict[str, int] = shape,
        ) -> dict[str, Any]:
            nonlocal port
            port = free_port(port)
            return rooms_run(
                args,
                part=part,
                variant=variant,
                rooms=shape["rooms"],
                size=shape["size"],
                senders=shape["senders"],
                msgs=msgs,
                idle_users=users,
                idle_rooms=rooms,
                port=port,
                chatload=chatload,
            )

        if args.quick:
            msgs = shape["quick"]
        else:
            try:
                msgs, pilots = calibrate(args, run, shape["pilot"])
            except (RuntimeError, OSError) as e:
                log(f"!!! {part}: calibration failed: {e}")
                failed = True
                continue
            log(f"calibrated: {msgs} messages per sender")
            for p in pilots:
                p.update(common)
                append_record(out, p)
        for k in range(args.repeat):
            order = variants if k % 2 == 0 else variants[::-1]
            for variant, users, rooms in order:
                try:
                    record = run(msgs, variant, users, rooms)
                except (RuntimeError, OSError) as e:
                    log(f"!!! {part} {variant}: {e}")
                    failed = True
                    continue
                keep(record, k)

    git = common["bench_git"]
    where = common["bench_txchat_chat"]
    dirty = " + uncommitted chat/ changes" if git["chat_dirty"] else ""
    if args.txchat_pythonpath:
        dirty += f" (chat imported from {where.get('path')})"
    elif where.get("differs_from_repo"):
        dirty += f" (installed copy differs in {', '.join(where['differs_from_repo'])})"
    mach = common["bench_machine"]
    print(
        f"\nrooms benchmark, run {run_id} ({'quick' if args.quick else 'full'}), "
        f"txchat {git['commit']}{dirty}, {mach['cpus']} CPUs ({mach['cpu_model']}); "
        f"medians of {args.repeat}; results in {out}\n"
    )
    print_tables(records)
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""
Issue 7 benchmark: txchat against InspIRCd, ngIRCd and the minimal Twisted
server, side by side in one run, with every figure the issue names; and
"bare CPython" (bare_relay.py), what Python alone gets on this machine.

  fanout100, fanout1000   fanout N 10 auto: deliveries/s, broadcast to N
  fanout100q, fanout1000q the same with chatload --quickack
  room1000, room1000q     txchat: a room of 1000 (/join #bench, #bench*TEXT);
                          the daemons' figure is their fanout1000(q), which
                          is already a channel of 1000
  dm                      dm 50 auto: private messages/s
  sweep                   sweep 100 3 50 (--pace-us 1000): the highest open-loop
                          rate with watcher p99 under 50 ms, in deliveries/s
  half                    rate 100 R 5 at half of ngIRCd's highest passing rate
                          (this run's): txchat's p99 there, target under 5 ms
  conn                    conn 10000: KiB per idle connection and logins/s
  tls-fanout100, tls-dm,  txchat over TLS (ssl: listener, certificate made
  tls-conn                here), with stunnel in client mode between chatload
                          and txchat; compared with txchat's plain figures,
                          and as server CPU per delivery, message or login

The plain phases go through the shared run.py (one fresh server per run,
its CPU and memory from /proc).  run.py finds the server by its listening
socket, which with stunnel in front would be stunnel, so the TLS phases are
driven here the same way (chatload --sync, /proc samples at "ready" and
"done").  Results are appended to bench/results/<date>-daemons.jsonl; the
table of medians, ratios and targets is printed at the end and again by
--report.

Two txchat builds side by side: "txchat@base" is the txchat preset
started from --baseline-venv (another install, e.g. the commit before a
change), with every txchat option and phase; the table adds txchat/txchat@base
and whether each figure is within 5 % of the base build's.

  make bench-daemons                            # everything once, ~15 min
  make bench-daemons ARGS="--phases fanout100,dm --repeat 3"
  python bench/daemons_bench.py --servers txchat,txchat@base \\
      --baseline-venv ../bench-base/.venv/bin --phases fanout100,dm --repeat 3
  python bench/daemons_bench.py --report bench/results/2026-11-21-daemons.jsonl
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rooms_bench import LOGIN, proc_cpu_s, proc_rss_kib, room_opts
from run_bench import (
    BASE,
    BUILD_TOLERANCE,
    DAEMONS,
    HOST,
    build_of,
    build_verdict,
    builds_header,
    builds_info,
    chat_env,
    check_builds,
    check_lists,
    common_options,
    ensure_chatload,
    fixed_phase,
    fmt,
    free_port_like,
    installed_chat,
    is_txchat,
    keep_or_remove,
    keep_phase_record,
    kind,
    load_run,
    log,
    median,
    per_unit_us,
    pick_ports,
    port_free,
    raise_nofile,
    results_file,
    run_header,
    run_one,
    servers_in,
    start_cmd,
    stop_server,
    twistd_argv,
    wait_listening,
)

PORTS = range(27500, 27600)
SERVERS = ("ref", "bare", "txchat", "ngircd", "inspircd")
LABELS = {
    "ref": "ref",
    "bare": "bare CPython",
    "txchat": "txchat",
    "ngircd": "ngIRCd",
    "inspircd": "InspIRCd",
}
# The room phases: txchat joins a room and sends to it.
ROOM = room_opts("#bench")
# run.py's "line" templates with txchat's login, for the TLS phases.
LINE = [*LOGIN, "--bcast", r"{payload}\n", "--dm", r"{to}*{payload}\n"]
SWEEP_OPTS = ["--sweep-start", "500", "--sweep-factor", "1.5", "--sweep-steps", "14"]
PACE = ["--pace-us", "1000"]


@dataclass(frozen=True)
class Phase:
    """
    One chatload phase: which servers run it, and what the table shows.
    """

    name: str
    words: str
    title: str
    metric: str
    unit: str
    servers: tuple[str, ...] = SERVERS
    extra: tuple[str, ...] = ()
    txchat_extra: tuple[str, ...] = ()
    # The other servers' figure comes from this phase (rooms: their fanout).
    others_from: str | None = None
    higher_is_better: bool = True
    # The target: txchat against this server's figure...
    target_vs: str | None = None
    # ...or against a fixed value.
    target_value: float | None = None
    plain: str | None = None  # a TLS phase: the plain one it is compared with
    secondary: tuple[tuple[str, str, str], ...] = ()

    @property
    def tls(self) -> bool:
        return self.plain is not None


def _fanout(n: int, quick: bool) -> Phase:
    q = "q" if quick else ""
    return Phase(
        f"fanout{n}{q}",
        f"fanout {n} 10 auto",
        f"broadcast to {n}{' (--quickack)' if quick else ''}",
        "deliveries_per_s",
        "deliveries/s",
        extra=("--quickack",) if quick else (),
        target_vs="inspircd",
    )


def _room(quick: bool) -> Phase:
    q = "q" if quick else ""
    return Phase(
        f"room1000{q}",
        "fanout 1000 10 auto",
        f"room of 1000{' (--quickack)' if quick else ''}",
        "deliveries_per_s",
        "deliveries/s",
        servers=("txchat",),
        extra=("--quickack",) if quick else (),
        txchat_extra=tuple(ROOM),
        others_from=f"fanout1000{q}",
        target_vs="inspircd",
    )


PHASES: tuple[Phase, ...] = (
    _fanout(100, False),
    _fanout(100, True),
    _fanout(1000, False),
    _fanout(1000, True),
    _room(False),
    _room(True),
    Phase(
        "dm",
        "dm 50 auto",
        "private messages (50 pairs)",
        "msgs_in_per_s",
        "messages/s",
        target_vs="ngircd",
    ),
    Phase(
        "sweep",
        "sweep 100 3 50",
        "open loop, 100 users: highest rate with p99 < 50 ms",
        "deliveries_per_s",
        "deliveries/s",
        extra=tuple(PACE),
        target_vs="ngircd",
    ),
    Phase(
        "half",
        "rate 100 HALF 5",
        "p99 at half of ngIRCd's highest rate",
        "p99_ms",
        "ms",
        servers=("txchat", "ngircd", "inspircd"),
        extra=tuple(PACE),
        higher_is_better=False,
        target_value=5.0,
    ),
    Phase(
        "conn",
        "conn 10000",
        "memory per idle connection (10,000)",
        "kib_per_conn",
        "KiB/conn",
        higher_is_better=False,
        target_vs="inspircd",
        secondary=(("logins_per_s", "logins/s at 10,000", "logins/s"),),
    ),
    Phase(
        "tls-fanout100",
        "fanout 100 10 auto",
        "TLS: broadcast to 100",
        "deliveries_per_s",
        "deliveries/s",
        servers=("txchat",),
        plain="fanout100",
    ),
    Phase(
        "tls-dm",
        "dm 50 auto",
        "TLS: private messages (50 pairs)",
        "msgs_in_per_s",
        "messages/s",
        servers=("txchat",),
        plain="dm",
    ),
    Phase(
        "tls-conn",
        "conn 2000",
        "TLS: logins (2,000 over TLS, handshake included; plain: 10,000)",
        "logins_per_s",
        "logins/s",
        servers=("txchat",),
        plain="conn",
    ),
)
PHASE_BY_NAME = {p.name: p for p in PHASES}
# The logins target: ten times the better daemon.
LOGINS_FACTOR = 10.0


# ------------------------------------------------------------------ TLS


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    """
    A self-signed certificate for 127.0.0.1, made with the system's openssl.
    """
    key, cert = workdir / "key.pem", workdir / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def tls_run(
    args: argparse.Namespace,
    server: str,
    words: str,
    ports: tuple[int, int],
    workdir: Path,
    chatload: Path,
) -> dict[str, Any] | None:
    """
    The txchat build C{server} on an C{ssl:} listener, stunnel in client
    mode in front of it, chatload against stunnel; txchat's and stunnel's
    CPU from /proc.
    """
    build = build_of(args, server)
    tls_port, plain_port = ports
    key, cert = make_certificate(workdir)
    listen = (
        f"ssl:{tls_port}:interface={HOST}:backlog=1024:privateKey={key}:certKey={cert}"
    )
    # a database of its own (workdir is new for every run), whatever the
    # build's default
    database = str(workdir / "chat.sqlite3")
    argv = twistd_argv(
        build.venv, tls_port, workdir, "--database", database, listen=listen
    )
    conf = workdir / "stunnel.conf"
    conf.write_text(
        "foreground = yes\npid =\nsyslog = no\ndebug = 3\n"
        f"output = {workdir / 'stunnel.log'}\n"
        "[txchat]\nclient = yes\n"
        f"accept = {HOST}:{plain_port}\nconnect = {HOST}:{tls_port}\n"
        f"CAfile = {cert}\nverifyPeer = yes\n"
    )
    proc = subprocess.Popen(argv, env=chat_env(build.pythonpath), cwd=workdir)
    tunnel: subprocess.Popen[Any] | None = None
    chat: subprocess.Popen[str] | None = None
    try:
        problem = wait_listening(proc, tls_port)
        if problem is None:
            tunnel = subprocess.Popen(["stunnel", str(conf)], cwd=workdir)
            problem = wait_listening(tunnel, plain_port)
        if problem is not None:
            log(f"!!! {server} TLS {words}: {problem}")
            return None
        assert tunnel is not None
        cmd = [
            str(chatload),
            "--port",
            str(plain_port),
            "--sync",
            "--timeout",
            str(args.timeout),
            *LINE,
            *args.chatload_opts,
            *shlex.split(words),
        ]
        rss0 = proc_rss_kib(proc.pid) or 0
        cpu0 = proc_cpu_s(proc.pid)
        chat = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert chat.stdin is not None and chat.stdout is not None
        samples: dict[str, tuple[float, float, float, int]] = {}
        result: dict[str, Any] | None = None
        for line in chat.stdout:
            if line.startswith("SYNC "):
                samples[line.split()[1]] = (
                    time.monotonic(),
                    proc_cpu_s(proc.pid),
                    proc_cpu_s(tunnel.pid),
                    proc_rss_kib(proc.pid) or 0,
                )
                chat.stdin.write("go\n")
                chat.stdin.flush()
            elif line.startswith("{"):
                result = json.loads(line)
        chat.wait(timeout=args.timeout + 60)
        # conn has no "done" window: its cost is the server's CPU over the run.
        total_cpu = proc_cpu_s(proc.pid) - cpu0
        if result is None:
            log(f"!!! {server} TLS {words}: chatload rc={chat.returncode}, no result")
            return None
        result["server"] = server
        result["cmd_chatload"] = shlex.join(cmd[1:])
        result["exit"] = chat.returncode
        result["server_cpu_run_s"] = round(total_cpu, 3)
        if "ready" in samples:
            ready = samples["ready"]
            result["kib_per_conn"] = round(
                (ready[3] - rss0) / max(result.get("ready", 0), 1), 2
            )
        if "ready" in samples and "done" in samples:
            (t0, s0, u0, _), (t1, s1, u1, _) = samples["ready"], samples["done"]
            result["server_cpu_s"] = round(s1 - s0, 3)
            result["server_cpu_util"] = round((s1 - s0) / (t1 - t0), 3)
            result["stunnel_cpu_s"] = round(u1 - u0, 3)
        return result
    finally:
        if chat is not None and chat.poll() is None:
            chat.kill()
            chat.wait()
        if tunnel is not None:
            stop_server(tunnel)
        stop_server(proc)


# ------------------------------------------------------------------ runs


def run_phase(
    args: argparse.Namespace,
    phase: Phase,
    server: str,
    words: str,
    port: int,
    logdir: Path,
    chatload: Path,
) -> dict[str, Any] | None:
    sweep = phase.name == "sweep"
    record = run_one(
        args,
        server=server,
        # run.py's own presets start the daemons.
        cmd=""
        if server in DAEMONS
        else start_cmd(args, server, args.shared_bench, port, logdir),
        port=port,
        phase_words=words,
        chatload=chatload,
        run_py=args.shared_bench / "run.py",
        extra=phase.extra,
        txchat_extra=phase.txchat_extra,
        run_py_opts=SWEEP_OPTS if sweep else (),
        choose=sweep_record if sweep else lambda final: final[-1],
    )
    if record is not None:
        lat = record.get("lat_obs_us") or {}
        if lat.get("n"):
            record["p99_ms"] = lat["p99"] / 1000
    return record


def sweep_record(final: list[dict[str, Any]]) -> dict[str, Any]:
    """
    A sweep's figure: its highest passing step (run.py stops at the first
    failing one), with the steps it ran; no figure if none passed.
    """
    passed = [r for r in final if r.get("sweep_pass")]
    record = dict(passed[-1] if passed else final[0])
    if not passed:
        record["deliveries_per_s"] = None
    record["sweep_steps"] = [[r.get("target_rate"), r.get("sweep_pass")] for r in final]
    record["sweep_any_pass"] = bool(passed)
    # Every step passed: the figure is a lower bound.
    record["sweep_capped"] = len(passed) == len(final)
    return record


def half_words(records: Sequence[dict[str, Any]], servers: Sequence[str]) -> str | None:
    """
    The 'half' phase: half the highest rate ngIRCd sustained in this run's
    first sweep (if ngIRCd is not being run, the first txchat build's own:
    every build gets the same rate).
    """
    whose = "ngircd" if "ngircd" in servers else kind_first(servers, "txchat")
    for r in records:
        if r.get("bench_phase") == "sweep" and r.get("server") == whose:
            if not r.get("sweep_any_pass"):
                return None
            return f"rate 100 {int(r['target_rate'] / 2)} 5"
    return None


def kind_first(servers: Sequence[str], preset: str) -> str:
    """
    The first of C{servers} run as C{preset}, or C{preset}.
    """
    return next((s for s in servers if kind(s) == preset), preset)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        run_id, found = load_run(args.report, args.run_id, "daemons_bench.py")
        print_report(run_id, found, args.report)
        return 0
    args.shared_bench = args.shared_bench.resolve()
    chatload = ensure_chatload(args.shared_bench)
    raise_nofile()
    for daemon in DAEMONS:
        if daemon in args.server_list and not Path(f"/usr/sbin/{daemon}").exists():
            raise SystemExit(f"/usr/sbin/{daemon} missing: apt-get install {daemon}")
    if any(PHASE_BY_NAME[p].tls for p in args.phase_list):
        for tool in ("stunnel", "openssl"):
            if subprocess.run(["which", tool], capture_output=True).returncode:
                raise SystemExit(f"{tool} missing: apt-get install stunnel4 openssl")
    out = results_file("daemons", False, args.out)
    logdir = Path(tempfile.mkdtemp(prefix="txchat-daemons-"))
    names = args.server_list
    ports = dict(zip(names, pick_ports(len(names), PORTS.start, PORTS), strict=True))
    tls_ports = pick_ports(2, PORTS.start + 50, PORTS)
    builds = builds_info(args)
    check_builds(builds)
    common = run_header(
        "daemons",
        argv,
        bench_txchat_chat=builds["txchat"]["chat"]
        if "txchat" in builds
        else installed_chat(args.venv, args.txchat_pythonpath),
        bench_txchat_builds=builds,
    )
    run_id = common["bench_run_id"]
    log(f"run {run_id}: results -> {out}; logs in {logdir}")
    records: list[dict[str, Any]] = []
    # calibrated counts, by preset and phase: every txchat build runs the
    # count the first one was calibrated to
    fixed: dict[tuple[str, str], str] = {}
    failed = False
    try:
        for k in range(args.repeat):
            for name in args.phase_list:
                phase = PHASE_BY_NAME[name]
                servers = [s for s in args.server_list if kind(s) in phase.servers]
                if k % 2:
                    servers.reverse()
                for server in servers:
                    words = fixed.get((kind(server), name), phase.words)
                    if name == "half":
                        half = half_words(records, args.server_list)
                        if half is None:
                            log("--- half: no passing sweep to halve; skipped")
                            break
                        words = half
                    if phase.tls:
                        words = tls_words(phase, records, words)
                        if not all(port_free(p) for p in tls_ports):
                            tls_ports = pick_ports(2, PORTS.start + 50, PORTS)
                        record = tls_run(
                            args,
                            server,
                            words,
                            (tls_ports[0], tls_ports[1]),
                            Path(tempfile.mkdtemp(dir=logdir)),
                            chatload,
                        )
                    else:
                        port = ports[server] = free_port_like(ports[server], PORTS)
                        record = run_phase(
                            args, phase, server, words, port, logdir, chatload
                        )
                    if record is None:
                        failed = True
                        continue
                    words = fixed[kind(server), name] = fixed_phase(record) or words
                    failed |= record.get("exit") != 0 and name != "sweep"
                    keep_phase_record(
                        out, records, record, common, phase=name, words=words, repeat=k
                    )
    finally:
        keep_or_remove(logdir, args.keep_logs, "server logs")
    print_report(run_id, records, out)
    return 3 if failed else 0


def tls_words(phase: Phase, records: Sequence[dict[str, Any]], words: str) -> str:
    """
    A TLS phase runs a fixed count: half of what the plain txchat run was
    calibrated to (stunnel shares the machine), or a small default.
    """
    if "auto" not in words:
        return words
    plain = [
        r
        for r in records
        if r.get("bench_phase") == phase.plain and is_txchat(r.get("server", ""))
    ]
    if plain:
        done = fixed_phase(plain[-1])
        if done:
            parts = done.split()
            parts[-1] = str(max(10, int(parts[-1]) // 2))
            return " ".join(parts)
    return words.replace("auto", "200" if words.startswith("fanout") else "2000")


# ------------------------------------------------------------------ table


def median_of(
    records: Iterable[dict[str, Any]], phase: str, server: str, metric: str
) -> float | None:
    values = [
        r.get(metric)
        for r in records
        if r.get("bench_phase") == phase and r.get("server") == server
    ]
    return median(values)


def txchat_us(
    records: Sequence[dict[str, Any]], phase: str, server: str = "txchat"
) -> float | None:
    """
    A txchat build's server CPU per delivery, message or login in C{phase},
    in microseconds (median).
    """
    return median(
        per_unit_us(r)
        for r in records
        if r.get("bench_phase") == phase and r.get("server") == server
    )


def label(server: str) -> str:
    return LABELS.get(server, server)


def higher_is_better(phase: Phase, metric: str) -> bool:
    return phase.higher_is_better or metric == "logins_per_s"


def figures(phase: Phase) -> list[tuple[str, str, str]]:
    """
    The figures of C{phase}: metric, title, unit.
    """
    return [(phase.metric, phase.title, phase.unit), *phase.secondary]


def verdict(
    phase: Phase, metric: str, records: Sequence[dict[str, Any]], tx: float | None
) -> str:
    if tx is None:
        return "–"
    source = phase.others_from or phase.name
    if phase.target_value is not None:
        goal = phase.target_value
        met = tx < goal
        text = f"< {fmt(goal)} {phase.unit}"
    elif metric == "logins_per_s":
        best = max((median_of(records, source, d, metric) or 0.0) for d in DAEMONS)
        if not best:
            return "–"
        goal = LOGINS_FACTOR * best
        met = tx >= goal
        text = f"≥ {LOGINS_FACTOR:g} × best daemon ({fmt(goal)})"
    elif phase.target_vs is not None:
        other = median_of(records, source, phase.target_vs, metric)
        if other is None:
            return "–"
        met = tx >= other if phase.higher_is_better else tx <= other
        sign = "≥" if phase.higher_is_better else "≤"
        text = f"{sign} {LABELS[phase.target_vs]}"
    else:
        return "–"
    return f"{text}: {'met' if met else '**not met**'}"


def table(records: Sequence[dict[str, Any]]) -> str:
    present = servers_in(records)
    others = [s for s in present if s != "txchat"]
    ab = BASE in present and "txchat" in present
    header = [
        "figure",
        "unit",
        *(label(s) for s in present),
        *(f"txchat/{label(o)}" for o in others),
        *([f"vs {BASE} ±{BUILD_TOLERANCE * 100:g} %"] if ab else []),
        "target",
    ]
    numbers = len(present) + len(others)
    rows = [
        "| " + " | ".join(header) + " |",
        "|"
        + "|".join(["---", "---", *(["---:"] * numbers), *(["---"] * (ab + 1))])
        + "|",
    ]
    for phase in PHASES:
        if phase.tls:
            continue
        if not any(r.get("bench_phase") == phase.name for r in records):
            continue
        for metric, title, unit in figures(phase):
            meds: dict[str, float | None] = {}
            for s in present:
                source = (
                    phase.name if is_txchat(s) else (phase.others_from or phase.name)
                )
                meds[s] = median_of(records, source, s, metric)
            tx = meds.get("txchat")
            better = "higher" if higher_is_better(phase, metric) else "lower"
            cells = [title, f"{unit}, {better} is better"]
            cells += [fmt(meds[s]) for s in present]
            for o in others:
                other = meds[o]
                cells.append(f"{tx / other:.2f}" if tx is not None and other else "–")
            if ab:
                base = meds[BASE]
                cells.append(
                    build_verdict(
                        tx / base if tx is not None and base else None,
                        higher_is_better(phase, metric),
                    )
                )
            cells.append(verdict(phase, metric, records, tx))
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def builds_table(records: Sequence[dict[str, Any]]) -> str:
    """
    txchat against txchat@base, every figure (TLS too): each run's figure
    in run order, the medians' ratio, and the server CPU per unit.
    """
    if not all(any(r.get("server") == s for r in records) for s in ("txchat", BASE)):
        return ""
    rows = [
        f"| figure | unit | txchat runs | {BASE} runs | txchat/{BASE} "
        f"| ±{BUILD_TOLERANCE * 100:g} % | server µs per unit, txchat / {BASE} |",
        "|---|---|---:|---:|---:|---|---:|",
    ]

    def runs(phase: str, server: str, metric: str) -> str:
        values = [
            fmt(r.get(metric))
            for r in records
            if r.get("bench_phase") == phase and r.get("server") == server
        ]
        return " / ".join(values) or "–"

    for phase in PHASES:
        if not any(r.get("bench_phase") == phase.name for r in records):
            continue
        for metric, title, unit in figures(phase):
            new = median_of(records, phase.name, "txchat", metric)
            base = median_of(records, phase.name, BASE, metric)
            ratio = new / base if new is not None and base else None
            cost = (
                f"{fmt(txchat_us(records, phase.name))} / "
                f"{fmt(txchat_us(records, phase.name, BASE))}"
            )
            rows.append(
                f"| {title} | {unit} | {runs(phase.name, 'txchat', metric)} "
                f"| {runs(phase.name, BASE, metric)} "
                f"| {'–' if ratio is None else f'{ratio:.3f}'} "
                f"| {build_verdict(ratio, higher_is_better(phase, metric))} "
                f"| {cost} |"
            )
    return "\n".join(rows) if len(rows) > 2 else ""


def tls_table(records: Sequence[dict[str, Any]]) -> str:
    rows = [
        "| figure | unit | build | plain | TLS | TLS/plain | server µs per "
        "unit, plain → TLS | stunnel CPU s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for phase in PHASES:
        if phase.plain is None:
            continue
        for server in servers_in(records):
            if not any(
                r.get("bench_phase") == phase.name and r.get("server") == server
                for r in records
            ):
                continue
            tls = median_of(records, phase.name, server, phase.metric)
            plain = median_of(records, phase.plain, server, phase.metric)
            before = txchat_us(records, phase.plain, server)
            cost = f"{fmt(before)} → {fmt(txchat_us(records, phase.name, server))}"
            ratio = f"{tls / plain:.2f}" if tls and plain else "–"
            stunnel = median_of(records, phase.name, server, "stunnel_cpu_s")
            rows.append(
                f"| {phase.title} | {phase.unit} | {server} | {fmt(plain)} "
                f"| {fmt(tls)} | {ratio} | {cost} | {fmt(stunnel)} |"
            )
    return "\n".join(rows) if len(rows) > 2 else ""


def details(records: Sequence[dict[str, Any]]) -> str:
    lines = []
    for r in records:
        lat = r.get("lat_obs_us") or r.get("rtt_us") or {}
        p = (
            f"p50/p99={lat['p50'] / 1000:.2f}/{lat['p99'] / 1000:.2f} ms"
            if lat.get("n")
            else ""
        )
        lines.append(
            f"  {r.get('server'):11} {r.get('bench_phase', ''):13} "
            f"{r.get('bench_phase_words', ''):24} exit={r.get('exit')} "
            f"lost={r.get('lost', 0)} deliveries/s={fmt(r.get('deliveries_per_s'))} "
            f"msgs/s={fmt(r.get('msgs_in_per_s'))} "
            f"logins/s={fmt(r.get('logins_per_s'))} "
            f"KiB/conn={fmt(r.get('kib_per_conn'))} {p} "
            f"srv_cpu={r.get('server_cpu_util', '–')} "
            f"other_procs_cpu_s={r.get('other_procs_cpu_s', '–')}"
        )
    return "\n".join(lines)


def print_report(run_id: str, records: Sequence[dict[str, Any]], path: Path) -> None:
    if not records:
        print(f"run {run_id}: no records")
        return
    git = records[0].get("bench_git", {})
    mach = records[0].get("bench_machine", {})
    reps = max(int(r.get("bench_repeat", 0)) for r in records) + 1
    print(
        f"\nrun {run_id}: {len(records)} runs from {path}; txchat {git.get('commit')}"
        f"{' + uncommitted changes' if git.get('chat_dirty') else ''}; "
        f"{mach.get('cpus')} CPUs ({mach.get('cpu_model')}), Python "
        f"{mach.get('python')}; medians of {reps} repeat(s)"
    )
    print(f"{builds_header(records)}\n".lstrip("\n"))
    print(table(records))
    builds = builds_table(records)
    if builds:
        print(
            f"\ntxchat against {BASE}, run by run (same counts, order "
            f"alternating by repeat); within ±{BUILD_TOLERANCE * 100:g} % of the "
            "base build's median, or better, passes\n"
        )
        print(builds)
    tls = tls_table(records)
    if tls:
        print(
            "\nTLS (txchat only; stunnel in client mode between chatload and txchat)\n"
        )
        print(tls)
    print()
    print(details(records))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common_options(ap, [p.name for p in PHASES], SERVERS)
    args = ap.parse_args(argv)
    check_lists(ap, args, list(PHASE_BY_NAME))
    return args


if __name__ == "__main__":
    sys.exit(main())

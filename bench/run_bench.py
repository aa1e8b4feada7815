#!/usr/bin/env python3
"""
Issue 2 benchmark: txchat against the minimal Twisted reference server.

Both servers get the same chatload phases from the shared harness
(C{../shared/bench/run.py}, one fresh server process per run), interleaved
run by run so that background load hits both alike:

  fanout100   fanout 100 10 auto   deliveries/s, broadcast to 100 users
  fanout1000  fanout 1000 10 auto  deliveries/s, broadcast to 1000 users
  dm          dm 50 auto           private messages/s (50 ping-pong pairs)
  conn        conn 10000           KiB of server RSS per idle connection,
                                   and logins/s while opening them

txchat is started as users start it (C{twistd --nodaemon chat}, every
feature on, default options, log to a file); the reference server is
C{ref_twisted_chat.py} on the same Python and Twisted (this venv); with
C{--servers}, also "bare" (C{bare_relay.py}: ref's protocol on CPython's
standard library alone) and the C daemons.  Every run
is appended as one JSON line to C{bench/results/<date>-issue2.jsonl}
(C{--quick} runs to C{<date>-issue2-quick.jsonl}); at the end a Markdown
table of medians and the ratio txchat/ref is printed.

  make bench                       # all figures once, ~7 minutes
  make bench ARGS="--repeat 3"     # medians of 3, ~10 minutes
  make bench ARGS=--quick          # short smoke run, ~30 seconds
  make bench ARGS="--repeat 3 --phases fanout100,dm"
  python bench/run_bench.py --report bench/results/2026-11-21-issue2.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
DEFAULT_SHARED = REPO.parent / "shared" / "bench"
PORTS = range(27100, 27200)
HOST = "127.0.0.1"

# chatload templates for txchat: run.py's "line" protocol with txchat's
# welcome line ("* Hello NAME, you are in! ...") as the login marker.  A later
# --ready wins over the one run.py puts first.
TXCHAT_EXTRA = ["--ready", "* Hello "]


@dataclass(frozen=True)
class Figure:
    """
    One number in the table: which phase it comes from and how to read it.
    """

    key: str
    phase: str
    metric: str
    title: str
    unit: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class Phase:
    name: str
    full: str
    quick: str
    figures: tuple[Figure, ...]


PHASES: tuple[Phase, ...] = (
    Phase(
        "fanout100",
        "fanout 100 10 auto",
        "fanout 100 10 100",
        (
            Figure(
                "fanout100",
                "fanout100",
                "deliveries_per_s",
                "broadcast to 100 users",
                "deliveries/s",
            ),
        ),
    ),
    Phase(
        "fanout1000",
        "fanout 1000 10 auto",
        "fanout 1000 10 10",
        (
            Figure(
                "fanout1000",
                "fanout1000",
                "deliveries_per_s",
                "broadcast to 1000 users",
                "deliveries/s",
            ),
        ),
    ),
    Phase(
        "dm",
        "dm 50 auto",
        "dm 50 200",
        (
            Figure(
                "dm",
                "dm",
                "msgs_in_per_s",
                "private messages (50 pairs)",
                "messages/s",
            ),
        ),
    ),
    Phase(
        "conn",
        "conn 10000",
        "conn 1000",
        (
            Figure(
                "conn_mem",
                "conn",
                "kib_per_conn",
                "memory per idle connection",
                "KiB/conn",
                higher_is_better=False,
            ),
            Figure(
                "conn_logins",
                "conn",
                "logins_per_s",
                "logins while connecting",
                "logins/s",
            ),
        ),
    ),
)
PHASE_BY_NAME = {p.name: p for p in PHASES}
# bare: bench/bare_relay.py, the same protocol as ref on CPython alone.
SERVERS = ("ref", "bare", "txchat", "ngircd", "inspircd")
DEFAULT_SERVERS = ("ref", "txchat")
# Started by run.py's own presets (Debian's ngircd and inspircd packages,
# with the configurations in ../shared/bench/configs), speaking IRC.
DAEMONS = ("ngircd", "inspircd")
# txchat is within this fraction of ref on a figure: the issue 2 target.
TARGET = 0.20
# A second txchat build, the one in --baseline-venv: the same preset, another
# install (e.g. the commit before a refactor), run side by side with txchat.
BASE = "txchat@base"
# txchat against txchat@base: "performance stays where it is" means every
# figure within this fraction of the base build's.
BUILD_TOLERANCE = 0.05


@dataclass(frozen=True)
class Build:
    """
    One installed txchat: the bin directory of the venv its C{twistd} and
    C{python} are in, and the directory C{chat} is imported from instead of
    the installed copy, if any.
    """

    venv: Path
    pythonpath: Path | None = None


def is_txchat(server: str) -> bool:
    """
    Whether C{server} is a txchat build (C{txchat}, C{txchat@base}): the
    same preset, templates and phases, whichever venv it is started from.
    """
    return server == "txchat" or server.startswith("txchat@")


def kind(server: str) -> str:
    """
    The preset C{server} is run as: C{txchat} for every txchat build.
    """
    return "txchat" if is_txchat(server) else server


def build_of(args: argparse.Namespace, server: str) -> Build:
    """
    The venv (and C{PYTHONPATH}) C{server} is started from; ref and bare
    run on C{--venv}'s Python.
    """
    builds: dict[str, Build] = args.builds
    return builds.get(server, Build(args.venv))


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ setup


def raise_nofile() -> int:
    """
    Raise the soft fd limit to the hard limit; return the new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ensure_chatload(shared: Path) -> Path:
    """
    The chatload binary: built in the shared bench directory if missing, or in
    a private directory if that one cannot be written.
    """
    binary = shared / "chatload"
    if binary.exists():
        return binary
    log(f"building chatload: make -C {shared}")
    if subprocess.run(["make", "-C", str(shared)], check=False).returncode == 0:
        if binary.exists():
            return binary
    private = Path(tempfile.gettempdir()) / "txchat-bench-chatload"
    private.mkdir(exist_ok=True)
    binary = private / "chatload"
    log(f"make failed; building {binary} instead")
    subprocess.run(
        [
            os.environ.get("CC", "cc"),
            "-O2",
            "-Wall",
            "-std=gnu11",
            "-o",
            str(binary),
            str(shared / "chatload.c"),
        ],
        check=True,
    )
    return binary


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        if s.connect_ex((HOST, port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def pick_ports(count: int, start: int, span: range = PORTS) -> list[int]:
    ports = [p for p in span if p >= start and port_free(p)][:count]
    if len(ports) < count:
        raise SystemExit(f"no {count} free ports in {span.start}-{span.stop - 1}")
    return ports


def free_port_like(port: int, span: range = PORTS) -> int:
    """
    C{port} if it is still free, else the next free one in C{span}.
    """
    if port_free(port):
        return port
    return pick_ports(1, span.start, span)[0]


def server_cmd(
    name: str,
    venv: Path,
    shared: Path,
    port: int,
    logdir: Path,
    pythonpath: Path | None = None,
) -> str:
    if name == "ref":
        argv = [
            str(venv / "python"),
            str(shared / "ref_twisted_chat.py"),
            str(port),
        ]
    elif name == "bare":
        argv = [str(venv / "python"), str(REPO / "bench" / "bare_relay.py"), str(port)]
    else:
        # run.py starts servers in its own directory, and several times per
        # call (pilots): a database of their own, emptied at every start, so
        # each run begins with no history and nothing is left behind there.
        fresh = tempfile.mkdtemp(prefix=f"db-{port}-", dir=logdir)
        argv = twistd_argv(venv, port, logdir, "--database", f"{fresh}/chat.sqlite3")
        if pythonpath is not None:
            # try a working copy of chat/ without installing it
            argv = ["env", f"PYTHONPATH={pythonpath}", *argv]
        else:
            # the venv's own install, whatever this environment says (as
            # chat_env does for the processes started here)
            argv = ["env", "-u", "PYTHONPATH", *argv]
        empty = shlex.join(["rm", "-rf", fresh])
        make = shlex.join(["mkdir", fresh])
        argv = ["sh", "-c", f"{empty} && {make} && exec {shlex.join(argv)}"]
    return shlex.join(argv)


def start_cmd(
    args: argparse.Namespace, server: str, shared: Path, port: int, logdir: Path
) -> str:
    """
    L{server_cmd} for C{server}, a txchat build started from its own venv.
    """
    build = build_of(args, server)
    if server != kind(server):
        # a log of its own for each build
        logdir = logdir / server
        logdir.mkdir(exist_ok=True)
    return server_cmd(kind(server), build.venv, shared, port, logdir, build.pythonpath)


def twistd_argv(
    venv: Path,
    port: int,
    workdir: Path,
    *options: str,
    backlog: int | None = 1024,
    listen: str | None = None,
) -> list[str]:
    """
    C{twistd chat} as users start it, in the foreground, logging to
    C{workdir/txchat.log}, listening on C{HOST:port} (or on the endpoint
    C{listen}); C{options} for chat.
    """
    if listen is None:
        listen = f"tcp:{port}:interface={HOST}"
        if backlog is not None:
            listen += f":backlog={backlog}"
    return [
        str(venv / "twistd"),
        "--nodaemon",
        "--pidfile=",
        f"--logfile={workdir / 'txchat.log'}",
        "chat",
        "--listen",
        listen,
        *exempt_loopback(venv),
        *(() if "--web" in options else no_web(venv)),
        *options,
    ]


@cache
def chat_usage(venv: Path) -> str:
    """
    What C{twistd chat --help} of the build says: which options it has.
    """
    return subprocess.run(
        [str(venv / "twistd"), "chat", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout


def exempt_loopback(venv: Path) -> tuple[str, ...]:
    """
    C{--exempt 127.0.0.0/8} if the build has it: every client of a bench
    connects from loopback, past the per-address limits (16 connections
    at once, 30 a minute) of builds since issue 15.
    """
    return ("--exempt", "127.0.0.0/8") if "--exempt" in chat_usage(venv) else ()


def no_web(venv: Path) -> tuple[str, ...]:
    """
    C{--no-web} if the build has a web door (issue 17), which would
    otherwise take port 8080: benches run several servers.
    """
    return ("--no-web",) if "--no-web" in chat_usage(venv) else ()


def chat_env(pythonpath: Path | None) -> dict[str, str]:
    """
    This environment, with C{chat} imported from C{pythonpath} if given,
    else from the installed copy.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def wait_listening(
    proc: subprocess.Popen[Any], port: int, timeout: float = 30
) -> str | None:
    """
    Wait until something listens on C{HOST:port}: C{None}, or what went
    wrong (C{proc} exited, or C{timeout} seconds passed).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"server exited rc={proc.returncode}"
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((HOST, port)) == 0:
                return None
        time.sleep(0.1)
    return f"server did not listen on {port} within {timeout:g} s"


def stop_server(proc: subprocess.Popen[Any], timeout: float = 15) -> int | None:
    """
    SIGTERM, SIGKILL if it is still there C{timeout} seconds later; its
    exit status.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"!!! server {proc.pid} ignored SIGTERM for {timeout:g} s: SIGKILL")
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def keep_or_remove(workdir: Path, keep: bool, what: str) -> None:
    """
    Log where C{workdir} (holding C{what}) stays, or remove it.
    """
    if keep:
        log(f"{what} kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------ CPU noise


def machine_busy_s() -> float:
    """
    Busy CPU seconds of the whole machine: user, nice, system, irq, softirq
    (a process's system time includes the softirq work done on its behalf).
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_tree_cpu_s() -> float:
    """
    CPU of this process plus every waited-for descendant (run.py, the
    servers and chatload, once they have exited).
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# ------------------------------------------------------------------ runs


def git_state(repo: Path = REPO) -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(
            # no index refresh: the tree may be someone's working copy
            ["git", "--no-optional-locks", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip()

    # the server's sources only (chat/client/ is not imported by twistd chat)
    dirty = git(
        "status",
        "--porcelain",
        "--",
        ":(glob)chat/**/*.py",
        ":(exclude)chat/client",
        "twisted",
        "setup.cfg",
    )
    return {"commit": git("rev-parse", "--short", "HEAD"), "chat_dirty": bool(dirty)}


def server_sources(tree: Path) -> list[Path]:
    """
    The C{chat} modules twistd imports, relative to C{tree/chat} (all of
    them but the client's).
    """
    package = tree / "chat"
    return sorted(
        path.relative_to(package)
        for path in package.rglob("*.py")
        if path.relative_to(package).parts[0] != "client"
    )


def installed_chat(
    venv: Path, pythonpath: Path | None, source: Path | None = REPO
) -> dict[str, Any]:
    """
    Where twistd will import C{chat} from, with which Python and Twisted, and
    which of C{source}'s C{chat/**.py} (the repository it was installed
    from) differ from that copy: an install older than the tree.
    """
    out = subprocess.run(
        [
            str(venv / "python"),
            "-c",
            "import platform, chat, twisted; print(chat.__file__, "
            "twisted.__version__, platform.python_version(), sep='\\n')",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
        env=chat_env(pythonpath),
    )
    if out.returncode != 0:
        return {"path": None, "error": out.stderr.strip()[-300:]}
    path, twisted, python = out.stdout.splitlines()[-3:]
    where = Path(path).parent
    found: dict[str, Any] = {"path": str(where), "twisted": twisted, "python": python}
    if source is None:
        return found
    found["source"] = str(source)
    found["differs_from_repo"] = [
        str(f)
        for f in server_sources(source)
        if not (where / f).is_file()
        or (where / f).read_bytes() != (source / "chat" / f).read_bytes()
    ]
    return found


def checkout_of(venv: Path) -> Path | None:
    """
    The source tree a venv made by C{make install} belongs to
    (C{TREE/.venv/bin}), if C{venv} is one.
    """
    tree = venv.absolute().parent.parent
    return tree if (tree / "chat" / "__init__.py").is_file() else None


def builds_info(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """
    For each txchat build asked for: its venv, where C{chat} comes from and
    whether that copy matches the tree it was installed from (C{txchat}:
    the checkout its venv is in, else this repository; other builds: the
    checkout their venv is in), and that tree's commit.
    """
    info = {}
    for server in args.server_list:
        if not is_txchat(server):
            continue
        build = build_of(args, server)
        source = checkout_of(build.venv)
        if source is None and server == "txchat":
            source = REPO
        info[server] = {
            "venv": str(build.venv),
            "pythonpath": None if build.pythonpath is None else str(build.pythonpath),
            "git": None if source is None else git_state(source),
            "chat": installed_chat(build.venv, build.pythonpath, source),
        }
    return info


def check_builds(builds: dict[str, dict[str, Any]]) -> None:
    """
    Stop if a build cannot import C{chat}; warn about an install older
    than its tree, or builds on different Pythons or Twisteds.
    """
    for server, info in builds.items():
        twistd = Path(info["venv"]) / "twistd"
        if not twistd.exists():
            raise SystemExit(f"{server}: {twistd} missing: run 'make install'")
        chat = info["chat"]
        if chat.get("path") is None:
            raise SystemExit(
                f"{server}: {info['venv']}/python cannot import chat: {chat['error']}"
            )
        if chat.get("differs_from_repo"):
            log(
                f"!!! {server}: the chat installed in {chat['path']} differs from "
                f"{chat['source']}/chat in {', '.join(chat['differs_from_repo'])}: "
                "run make install there"
            )
        elif "source" not in chat:
            log(f"!!! {server}: {info['venv']} is in no checkout; install not checked")
    runtimes = {(b["chat"]["python"], b["chat"]["twisted"]) for b in builds.values()}
    if len(runtimes) > 1:
        log(f"!!! the builds run on different Python/Twisted versions: {runtimes}")


def describe_build(server: str, info: dict[str, Any]) -> str:
    """
    One line about a txchat build for a report's header.
    """
    git, chat = info.get("git") or {}, info.get("chat") or {}
    text = f"{server} {git.get('commit', '?')}"
    if git.get("chat_dirty"):
        text += " + uncommitted changes"
    text += f" (chat from {chat.get('path')}"
    if chat.get("twisted"):
        text += f", Twisted {chat['twisted']}, Python {chat['python']}"
    text += ")"
    if chat.get("differs_from_repo"):
        text += f" **install differs from its tree in {len(chat['differs_from_repo'])}"
        text += f" files: {', '.join(chat['differs_from_repo'][:5])}**"
    return text


def run_header(bench: str, argv: Sequence[str] | None, **extra: Any) -> dict[str, Any]:
    """
    The keys every record of one benchmark run carries: which benchmark
    and run, the commit, the machine and the command line, and C{extra}.
    """
    return {
        "bench": bench,
        "bench_run_id": time.strftime("%Y%m%dT%H%M%S"),
        "bench_git": git_state(),
        "bench_machine": machine_info(),
        "bench_args": sys.argv[1:] if argv is None else list(argv),
        **extra,
    }


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def fixed_phase(record: dict[str, Any]) -> str | None:
    """
    The phase words with the calibrated count, from a chatload result.
    """
    match record.get("phase"):
        case "fanout":
            return (
                f"fanout {record['clients']} {record['senders']} "
                f"{record['msgs_per_sender']}"
            )
        case "dm":
            return f"dm {record['pairs']} {record['rounds']}"
        case "conn":
            return f"conn {record['clients']}"
    return None


@dataclass(frozen=True)
class RunPyCall:
    """
    What one run.py call printed, and the CPU-noise figures around it.
    """

    rc: int
    records: list[dict[str, Any]]
    wall_s: float
    # CPU used by processes outside this benchmark over the whole run.py
    # call (pilots, server start, logins, measurement): the noise figure for
    # conn, whose SYNC window (run.py's other_procs_cpu_s) is empty.
    other_cpu_s: float

    @property
    def final(self) -> list[dict[str, Any]]:
        """
        The records that are not pilots.
        """
        return [r for r in self.records if not r.get("pilot")]


def call_run_py(
    run_py: Path,
    *,
    server_cmd: str = "",
    port: int = 0,
    preset: str | None = None,
    label: str,
    phase_words: str,
    timeout: float,
    chatload: Path,
    target_s: float | None = None,
    extra: Sequence[str] = (),
    run_py_opts: Sequence[str] = (),
) -> RunPyCall:
    """
    One run of the shared run.py: C{server_cmd} on C{port} speaking "line",
    or run.py's own C{preset} server; one chatload phase; C{extra} chatload
    options.
    """
    if preset is not None:
        how = ["--server", preset]
    else:
        how = ["--server-cmd", server_cmd, "--port", str(port), "--proto", "line"]
    argv = [
        sys.executable,
        str(run_py),
        *how,
        "--label",
        label,
        "--phase",
        phase_words,
        "--timeout",
        str(timeout),
    ]
    if target_s is not None:
        argv += ["--target-s", str(target_s)]
    argv += ["--chatload", str(chatload), *run_py_opts]
    if extra:
        argv += ["--", *extra]
    busy0, own0, t0 = machine_busy_s(), own_tree_cpu_s(), time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    busy1, own1, t1 = machine_busy_s(), own_tree_cpu_s(), time.monotonic()
    return RunPyCall(
        rc=proc.returncode,
        records=[
            json.loads(line)
            for line in proc.stdout.splitlines()
            if line.startswith("{")
        ],
        wall_s=round(t1 - t0, 3),
        other_cpu_s=round((busy1 - busy0) - (own1 - own0), 3),
    )


def run_one(
    args: argparse.Namespace,
    *,
    server: str,
    cmd: str,
    port: int,
    phase_words: str,
    chatload: Path,
    run_py: Path,
    extra: Sequence[str] = (),
    txchat_extra: Sequence[str] = (),
    run_py_opts: Sequence[str] = (),
    choose: Callable[[list[dict[str, Any]]], dict[str, Any]] = lambda final: final[-1],
) -> dict[str, Any] | None:
    """
    One run.py call for C{server}; the record C{choose} picks from the
    runs that are not pilots (default: the last), with this script's keys.
    C{extra} chatload options go to every server, C{txchat_extra} to
    txchat only, C{run_py_opts} to run.py.
    """
    log(f"--- {server}: {phase_words}")
    if is_txchat(server):
        extra = [*TXCHAT_EXTRA, *txchat_extra, *extra]
    run = call_run_py(
        run_py,
        server_cmd=cmd,
        port=port,
        # Their configuration files fix their ports (26603, 26604).
        preset=server if server in DAEMONS else None,
        label=server,
        phase_words=phase_words,
        timeout=args.timeout,
        chatload=chatload,
        target_s=args.target_s,
        extra=[*extra, *args.chatload_opts],
        run_py_opts=run_py_opts,
    )
    final = run.final
    if not final:
        log(f"!!! {server} {phase_words}: run.py rc={run.rc}, no result")
        return None
    record = choose(final)
    record["bench_run_py_rc"] = run.rc
    record["bench_pilots"] = len(run.records) - len(final)
    record["bench_wall_s"] = run.wall_s
    record["bench_other_cpu_s"] = run.other_cpu_s
    return record


def median(values: Iterable[object]) -> float | None:
    vals = [v for v in values if isinstance(v, int | float)]
    return statistics.median(vals) if vals else None


def results_file(name: str, quick: bool = False, out: Path | None = None) -> Path:
    """
    C{out}, or by default C{bench/results/<date>-<name>[-quick].jsonl}; its
    directory made.
    """
    day = time.strftime("%Y-%m-%d")
    path = out or RESULTS / f"{day}-{name}{'-quick' if quick else ''}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def append_record(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def keep_phase_record(
    path: Path,
    records: list[dict[str, Any]],
    record: dict[str, Any],
    common: dict[str, Any],
    *,
    phase: str,
    words: str,
    repeat: int,
) -> None:
    """
    A side-by-side run's C{record}, with the run's C{common} keys and which
    phase, count and repeat it was, appended to C{path} and C{records}.
    """
    record.update(common)
    record["bench_phase"] = phase
    record["bench_phase_words"] = words
    record["bench_repeat"] = repeat
    append_record(path, record)
    records.append(record)


def load_run(
    path: Path, run_id: str | None, script: str
) -> tuple[str, list[dict[str, Any]]]:
    """
    The records of run C{run_id} (default: the last run) in C{path}, a
    results file of C{script}.
    """
    records = [json.loads(line) for line in path.read_text().splitlines() if line]
    ids = [r.get("bench_run_id") for r in records if r.get("bench_run_id")]
    if not ids:
        raise SystemExit(f"{path}: no {script} records")
    wanted = run_id or ids[-1]
    return wanted, [r for r in records if r.get("bench_run_id") == wanted]


# ------------------------------------------------------------------ table


def per_unit_us(r: dict[str, Any]) -> float | None:
    """
    The server's CPU per delivery, private message or login (µs), where
    the record has both.
    """
    cpu = r.get("server_cpu_s") or r.get("server_cpu_run_s")
    count = r.get("delivered") or 2 * r.get("round_trips", 0) or r.get("ready")
    return 1e6 * cpu / count if cpu and count else None


def value_range(values: Iterable[object]) -> str:
    vals = [v for v in values if isinstance(v, int | float)]
    if not vals:
        return "–"
    lo, hi = min(vals), max(vals)
    return fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}"


def fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def servers_in(records: Iterable[dict[str, Any]]) -> list[str]:
    """
    The servers C{records} come from, in L{SERVERS}' order, the other txchat
    builds right after txchat.
    """
    seen = {r.get("server") for r in records}
    builds = sorted(s for s in seen if isinstance(s, str) and is_txchat(s))
    order = [t for s in SERVERS for t in (builds if s == "txchat" else [s])]
    return [s for s in order if s in seen]


def build_verdict(ratio: float | None, higher_is_better: bool) -> str:
    """
    txchat against txchat@base (C{ratio} = txchat/txchat@base): within
    L{BUILD_TOLERANCE}, or better or worse by more.
    """
    if ratio is None:
        return "–"
    gain = ratio - 1 if higher_is_better else 1 - ratio
    if gain < -BUILD_TOLERANCE:
        return f"**{-gain * 100:.1f} % worse**"
    if gain > BUILD_TOLERANCE:
        return f"{gain * 100:.1f} % better"
    return f"within {BUILD_TOLERANCE * 100:g} %"


def builds_header(records: Sequence[dict[str, Any]]) -> str:
    """
    One line per txchat build in C{records}: commit, where chat came from,
    whether the install matched its tree.
    """
    builds = (records[0].get("bench_txchat_builds") if records else None) or {}
    return "\n".join(
        "  " + describe_build(server, builds[server])
        for server in servers_in(records)
        if server in builds
    )


def verdict(fig: Figure, ratio: float | None) -> str:
    if ratio is None:
        return "–"
    ok = ratio >= 1 - TARGET if fig.higher_is_better else ratio <= 1 + TARGET
    return "ok" if ok else "**MISS**"


def table(records: Sequence[dict[str, Any]]) -> str:
    """
    Medians per server, and txchat's ratio to each other server; the
    issue 2 verdict is against ref.
    """
    present = servers_in(records)
    others = [s for s in present if s != "txchat"] if "txchat" in present else []
    header = ["figure", "unit", *present, *(f"txchat/{o}" for o in others)]
    align = ["---", "---", *("---:" for _ in present), *("---:" for _ in others)]
    if BASE in others:
        header.append(f"vs {BASE} ±{BUILD_TOLERANCE * 100:g} %")
        align.append("---")
    if "ref" in others:
        header.append("target ±20 % (ref)")
        align.append("---")
    header += ["range " + " / ".join(present), "runs", "other_procs_cpu_s"]
    header.append("other CPU, whole run")
    align += ["---:", "---:", "---:", "---:"]
    rows = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for phase in PHASES:
        for fig in phase.figures:
            by_server = {
                s: [
                    r
                    for r in records
                    if r.get("bench_phase") == phase.name and r.get("server") == s
                ]
                for s in present
            }
            if not any(by_server.values()):
                continue
            meds = {s: median(r.get(fig.metric) for r in by_server[s]) for s in present}
            spread = " / ".join(
                value_range(r.get(fig.metric) for r in by_server[s]) for s in present
            )
            tx = meds.get("txchat")
            ratios = {
                o: (tx / meds[o] if meds[o] and tx is not None else None)
                for o in others
            }
            better = "higher" if fig.higher_is_better else "**lower**"
            runs_all = [r for rs in by_server.values() for r in rs]
            window = max(
                (r.get("other_procs_cpu_s", 0.0) for r in runs_all), default=None
            )
            whole = max(
                (
                    r.get("bench_other_cpu_s", 0.0)
                    / max(r.get("bench_wall_s", 1.0), 1e-3)
                    for r in runs_all
                ),
                default=None,
            )
            bad = sum(
                1 for rs in by_server.values() for r in rs if r.get("exit") not in (0,)
            )
            runs = "/".join(str(len(by_server[s])) for s in present)
            if bad:
                runs += f" ({bad} failed)"
            cells = [f"{fig.title}", f"{fig.unit}, {better} is better"]
            cells += [fmt(meds[s]) for s in present]
            cells += ["–" if ratios[o] is None else f"{ratios[o]:.3f}" for o in others]
            if BASE in others:
                cells.append(build_verdict(ratios[BASE], fig.higher_is_better))
            if "ref" in others:
                cells.append(verdict(fig, ratios["ref"]))
            cells += [spread, runs, f"{fmt(window)} s"]
            cells.append(f"{'–' if whole is None else f'{whole:.0%}'} of a CPU")
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def details(records: Sequence[dict[str, Any]]) -> str:
    """
    One line per run: the phase actually run and the side figures.
    """
    lines = []
    for r in records:
        lat = r.get("lat_obs_us") or r.get("rtt_us") or {}
        per = fmt(per_unit_us(r))
        p50 = f"{lat['p50'] / 1000:.2f} ms" if lat.get("n") else "–"
        phase = PHASE_BY_NAME.get(r.get("bench_phase", ""))
        values = " ".join(
            f"{f.metric}={fmt(r.get(f.metric))}"
            for f in (phase.figures if phase else ())
        )
        lines.append(
            f"  {r.get('server'):11} {r.get('bench_phase_words', ''):22} {values} "
            f"exit={r.get('exit')} lost={r.get('lost', 0)} "
            f"p50={p50} srv_cpu={r.get('server_cpu_util', '–')} us/msg={per} "
            f"other_procs_cpu_s={r.get('other_procs_cpu_s', '–')} "
            f"bench_other_cpu_s={r.get('bench_other_cpu_s', '–')}"
        )
    return "\n".join(lines)


def report(path: Path, run_id: str | None) -> int:
    wanted, chosen = load_run(path, run_id, "run_bench.py")
    git = chosen[0].get("bench_git", {})
    mach = chosen[0].get("bench_machine", {})
    print(
        f"run {wanted}: {len(chosen)} runs from {path}; txchat {git.get('commit')}"
        f"{' + uncommitted changes' if git.get('chat_dirty') else ''}, "
        f"{mach.get('cpus')} CPUs ({mach.get('cpu_model')})"
    )
    print(f"{builds_header(chosen)}\n".lstrip("\n"))
    print(table(chosen))
    print()
    print(details(chosen))
    return 0


# ------------------------------------------------------------------ main


def common_options(
    ap: argparse.ArgumentParser, phases: Sequence[str], servers: Sequence[str]
) -> None:
    """
    The options every side-by-side benchmark script takes; C{servers}
    are the default ones, of L{SERVERS}.
    """
    ap.add_argument("--repeat", type=int, default=1, help="runs per server and phase")
    ap.add_argument(
        "--phases",
        default=",".join(phases),
        help="comma-separated subset of: %(default)s",
    )
    ap.add_argument(
        "--servers",
        default=",".join(servers),
        help=f"comma-separated, of: {', '.join(SERVERS)}, {BASE} (default: "
        "%(default)s; ngircd and inspircd need Debian's packages of those names, "
        f"{BASE} needs --baseline-venv)",
    )
    ap.add_argument("--target-s", type=float, default=7.0, help="length of auto runs")
    ap.add_argument("--timeout", type=float, default=60.0, help="chatload hard limit")
    ap.add_argument("--out", type=Path, help="JSON lines file (default: by date)")
    ap.add_argument(
        "--shared-bench",
        type=Path,
        default=Path(os.environ.get("BENCH_DIR", DEFAULT_SHARED)),
        help="chatload and run.py (default: %(default)s)",
    )
    ap.add_argument(
        "--venv",
        type=Path,
        default=REPO / ".venv" / "bin",
        help="bin directory with python and twistd (default: %(default)s)",
    )
    ap.add_argument("--keep-logs", action="store_true", help="keep server logs")
    ap.add_argument(
        "--txchat-pythonpath",
        type=Path,
        metavar="DIR",
        help="import chat from DIR/chat instead of the installed copy (A/B tests "
        "of uncommitted changes; recorded in the results)",
    )
    ap.add_argument(
        "--baseline-venv",
        type=Path,
        metavar="BIN",
        help=f"bin directory of another txchat install, run as server {BASE} "
        "beside txchat (--venv), e.g. the commit before a change: "
        "DIR/.venv/bin after 'make install' in a checkout DIR of it",
    )
    ap.add_argument(
        "--baseline-pythonpath",
        type=Path,
        metavar="DIR",
        help=f"like --txchat-pythonpath, for {BASE}",
    )
    ap.add_argument(
        "--report",
        type=Path,
        metavar="JSONL",
        help="only print the table of the last run (or --run-id) in JSONL",
    )
    ap.add_argument("--run-id", help="with --report: which run")
    ap.add_argument(
        "chatload_opts", nargs="*", help="after '--': chatload options for every server"
    )


def check_lists(
    ap: argparse.ArgumentParser, args: argparse.Namespace, phases: Sequence[str]
) -> None:
    """
    C{args.phase_list} and C{args.server_list} from the options, or a
    usage error naming what is unknown.
    """
    args.phase_list = [p.strip() for p in args.phases.split(",") if p.strip()]
    for name in args.phase_list:
        if name not in phases:
            ap.error(f"unknown phase {name!r}; choose from {', '.join(phases)}")
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.builds = {"txchat": Build(args.venv, args.txchat_pythonpath)}
    if args.baseline_venv is not None:
        args.builds[BASE] = Build(args.baseline_venv, args.baseline_pythonpath)
    for name in args.server_list:
        if name == BASE and BASE not in args.builds:
            ap.error(f"server {BASE} needs --baseline-venv")
        if name not in SERVERS and name != BASE:
            ap.error(
                f"unknown server {name!r}; choose from {', '.join(SERVERS)}, {BASE}"
            )
    if len(set(args.server_list)) < len(args.server_list):
        ap.error("a server is named twice in --servers")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common_options(ap, [p.name for p in PHASES], DEFAULT_SERVERS)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: small fixed counts, conn 1000 (figures not comparable)",
    )
    ap.add_argument(
        "--first-port", type=int, default=27101, help="in 27100-27199 (27101)"
    )
    args = ap.parse_args(argv)
    check_lists(ap, args, list(PHASE_BY_NAME))
    if args.first_port not in PORTS:
        ap.error(f"--first-port must be in {PORTS.start}-{PORTS.stop - 1}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return report(args.report, args.run_id)

    shared = args.shared_bench.resolve()
    run_py = shared / "run.py"
    if not run_py.exists():
        raise SystemExit(f"{run_py} not found (--shared-bench)")
    for tool in ("python", "twistd"):
        if not (args.venv / tool).exists():
            raise SystemExit(f"{args.venv / tool} missing: run 'make install'")
    chatload = ensure_chatload(shared)
    nofile = raise_nofile()
    if nofile < 10100 and "conn" in args.phase_list and not args.quick:
        log(f"warning: fd limit {nofile}; conn 10000 needs ~10100 fds per process")

    out = results_file("issue2", args.quick, args.out)
    logdir = Path(tempfile.mkdtemp(prefix="txchat-bench-"))
    names = args.server_list
    ports = dict(zip(names, pick_ports(len(names), args.first_port), strict=True))
    for daemon in DAEMONS:
        if daemon in args.server_list and not Path(f"/usr/sbin/{daemon}").exists():
            raise SystemExit(f"/usr/sbin/{daemon} missing: apt-get install {daemon}")
    builds = builds_info(args)
    check_builds(builds)
    common = run_header(
        "issue2",
        argv,
        bench_quick=args.quick,
        bench_txchat_chat=builds["txchat"]["chat"]
        if "txchat" in builds
        else installed_chat(args.venv, args.txchat_pythonpath),
        bench_txchat_builds=builds,
    )
    run_id = common["bench_run_id"]
    log(f"run {run_id}: results -> {out}; txchat log in {logdir}; ports {ports}")

    # Calibrated once per preset: every txchat build runs the same counts.
    phase_words = {
        (kind(s), p): (PHASE_BY_NAME[p].quick if args.quick else PHASE_BY_NAME[p].full)
        for s in args.server_list
        for p in args.phase_list
    }
    records: list[dict[str, Any]] = []
    failed = False
    try:
        for k in range(args.repeat):
            for name in args.phase_list:
                # alternate who goes first, so drift hits both alike
                order = args.server_list if k % 2 == 0 else args.server_list[::-1]
                for server in order:
                    port = ports[server] = free_port_like(ports[server])
                    words = phase_words[kind(server), name]
                    record = run_one(
                        args,
                        server=server,
                        cmd=start_cmd(args, server, shared, port, logdir),
                        port=port,
                        phase_words=words,
                        chatload=chatload,
                        run_py=run_py,
                    )
                    if record is None:
                        failed = True
                        continue
                    # later repeats (and the other txchat build) reuse this
                    # calibrated count
                    words = phase_words[kind(server), name] = (
                        fixed_phase(record) or words
                    )
                    failed |= record.get("exit") != 0
                    keep_phase_record(
                        out, records, record, common, phase=name, words=words, repeat=k
                    )
    finally:
        keep_or_remove(logdir, args.keep_logs, "txchat log")

    git = common["bench_git"]
    mach = common["bench_machine"]
    dirty = " + uncommitted chat/ changes" if git["chat_dirty"] else ""
    where = common["bench_txchat_chat"]
    if where.get("differs_from_repo"):
        dirty += f" (installed copy differs in {', '.join(where['differs_from_repo'])})"
    if args.txchat_pythonpath:
        dirty += f" (chat imported from {where.get('path')})"
    print(
        f"\nissue 2 benchmark, run {run_id} ({'quick' if args.quick else 'full'}), "
        f"txchat {git['commit']}{dirty}, "
        f"{mach['cpus']} CPUs ({mach['cpu_model']}), Python {mach['python']}; "
        f"medians of {args.repeat} run(s); results in {out}"
    )
    print(f"{builds_header(records)}\n".lstrip("\n"))
    print(table(records))
    print(
        f"\nratio = txchat/ref; target: within 20 % of ref (>= 0.80, or <= 1.20 "
        f"for memory, where lower is better); txchat/{BASE}: within "
        f"{BUILD_TOLERANCE * 100:g} % of the base build, or better. "
        "other CPU s = CPU used by other "
        "processes on the machine (run.py's other_procs_cpu_s: in the measured "
        "window; whole run: pilots, start-up and logins too, per second of wall "
        "time). Memory per connection: lower is better.\n"
    )
    print(details(records))
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

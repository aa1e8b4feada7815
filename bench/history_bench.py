#!/usr/bin/env python3
"""
Issue 4 benchmark: does writing history keep up with broadcasting?

Two parts:

  store    The SQLite store alone, in this process, on a temporary file:
           batches of entries added with add_history() as the server adds
           them, each followed by flush_history() (a closed loop, so none
           is dropped); entries on disk per second, and the reactor-thread
           cost of one add_history() call.
  server   txchat started as users start it (twistd chat, a fresh
           --database per run), with history (the default) and with
           --no-history, under the same chatload fanout phases, alternated
           run by run.  Broadcasts accepted per second and deliveries per
           second for both; after each run with history the database is
           opened and its rows counted against the broadcasts sent.

  make bench-history                           # both parts, ~3 minutes
  make bench-history ARGS="--repeat 3"
  python bench/history_bench.py --part store --entries 500000

Every result is appended as one JSON line to
C{bench/results/<date>-history.jsonl}.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from run_bench import (
    TXCHAT_EXTRA,
    append_record,
    call_run_py,
    ensure_chatload,
    fmt,
    free_port_like,
    load_run,
    log,
    median,
    pick_ports,
    raise_nofile,
    results_file,
    run_header,
    twistd_argv,
)

# fanout N S M: N users, the last S send M broadcasts each.  Few receivers
# make the most broadcasts per second, the store's hardest case.
SERVER_PHASES = {
    "fanout10": "fanout 10 10 3000",
    "fanout100": "fanout 100 10 2000",
}
QUICK_PHASES = {
    "fanout10": "fanout 10 10 300",
    "fanout100": "fanout 100 10 200",
}
VARIANTS = ("history", "no-history")


# ------------------------------------------------------------------ store


def store_part(
    entries: int, configs: Sequence[tuple[int, int]]
) -> list[dict[str, Any]]:
    """
    For each (batch, rooms) in C{configs}: write C{entries} history entries
    through a real L{SQLiteStore}, C{batch} at a time (add them, then wait
    for L{flush_history}, so nothing is dropped from the buffer), spread
    over C{rooms} rooms; entries on disk per second.  One reactor run for
    all of them: a reactor cannot be restarted.
    """
    from twisted.internet.defer import Deferred
    from twisted.internet.task import react

    from chat.store.interface import HistoryEntry
    from chat.store.sqlite import SQLiteStore

    results: list[dict[str, Any]] = []

    async def one(tmp: str, batch: int, rooms: int) -> dict[str, Any]:
        path = str(Path(tmp) / f"bench-{batch}-{rooms}.sqlite3")
        store = SQLiteStore(path, history_keep=10 * entries)
        await store.start()
        text = "x" * 64
        added_s = 0.0
        t0 = time.perf_counter()
        done = 0
        while done < entries:
            n = min(batch, entries - done)
            a0 = time.perf_counter()
            for i in range(done, done + n):
                room = f"#r{i % rooms}" if rooms > 1 else ""
                # Made here, as the core makes one for every message said.
                store.add_history(HistoryEntry(0, room, "u1", text, 1.0))
            added_s += time.perf_counter() - a0
            done += n
            await store.flush_history()
        elapsed = time.perf_counter() - t0
        await store.close()
        with sqlite3.connect(path) as db:
            (rows,) = db.execute("SELECT count(*) FROM history").fetchone()
        if rows != entries:
            log(f"!!! {rows} rows on disk for {entries} entries")
        return {
            "part": "store",
            "entries": entries,
            "batch": batch,
            "rooms": rooms,
            "rows_on_disk": rows,
            "elapsed_s": round(elapsed, 3),
            "stored_per_s": round(rows / elapsed),
            "add_history_us": round(1e6 * added_s / entries, 3),
        }

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="txchat-hist-") as tmp:
            for batch, rooms in configs:
                log(
                    f"--- store: {entries} entries, batches of {batch}, {rooms} room(s)"
                )
                results.append(await one(tmp, batch, rooms))

    try:
        react(lambda _: Deferred.fromCoroutine(main()))
    except SystemExit as e:  # react() always exits; only a failure matters
        if e.code:
            raise
    return results


# ------------------------------------------------------------------ server


def server_cmd(venv: Path, port: int, workdir: Path, variant: str) -> str:
    argv = twistd_argv(venv, port, workdir, "--database", str(workdir / "chat.sqlite3"))
    if variant == "no-history":
        argv.append("--no-history")
    return shlex.join(argv)


def server_run(
    args: argparse.Namespace,
    *,
    variant: str,
    phase: str,
    words: str,
    port: int,
    chatload: Path,
) -> dict[str, Any] | None:
    workdir = Path(tempfile.mkdtemp(prefix="txchat-hist-"))
    log(f"--- {variant}: {words}")
    run = call_run_py(
        args.shared_bench / "run.py",
        server_cmd=server_cmd(args.venv, port, workdir, variant),
        port=port,
        label=variant,
        phase_words=words,
        timeout=args.timeout,
        chatload=chatload,
        extra=TXCHAT_EXTRA,
    )
    if not run.records:
        log(f"!!! {variant} {words}: run.py rc={run.rc}, no result")
        return None
    record: dict[str, Any] = run.records[-1]
    record.update(
        part="server",
        variant=variant,
        bench_phase=phase,
        bench_run_py_rc=run.rc,
        bench_other_cpu_s=run.other_cpu_s,
        bench_wall_s=run.wall_s,
    )
    sent = record.get("senders", 0) * record.get("msgs_per_sender", 0)
    record["broadcasts_sent"] = sent
    db = workdir / "chat.sqlite3"
    if variant == "history":
        # run.py stopped the server with SIGTERM: everything must be written.
        with sqlite3.connect(db) as conn:
            (rows,) = conn.execute("SELECT count(*) FROM history").fetchone()
        record["history_rows"] = rows
        record["history_complete"] = rows == sent
        if rows != sent:
            log(f"!!! {rows} history rows for {sent} broadcasts")
    shutil.rmtree(workdir, ignore_errors=True)
    return record


# ------------------------------------------------------------------ report


def table(records: Sequence[dict[str, Any]]) -> str:
    lines = []
    stores = [r for r in records if r.get("part") == "store"]
    if stores:
        lines += [
            "| store alone | entries | batch | rooms | stored/s "
            "| µs per add_history | all on disk |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in stores:
            lines.append(
                f"| SQLiteStore | {r['entries']:,} | {r['batch']:,} | {r['rooms']} "
                f"| {fmt(r['stored_per_s'])} | {r['add_history_us']:.2f} "
                f"| {'yes' if r['rows_on_disk'] == r['entries'] else '**NO**'} |"
            )
        lines.append("")
    servers = [r for r in records if r.get("part") == "server"]
    if servers:
        lines += [
            "| phase | figure | with history | --no-history | ratio | runs "
            "| history rows = broadcasts |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for phase in dict.fromkeys(r["bench_phase"] for r in servers):
            mine = [r for r in servers if r["bench_phase"] == phase]
            for metric, title in (
                ("msgs_in_per_s", "broadcasts/s"),
                ("deliveries_per_s", "deliveries/s"),
            ):
                med = {
                    v: median([r.get(metric) for r in mine if r["variant"] == v])
                    for v in VARIANTS
                }
                a, b = med["history"], med["no-history"]
                ratio = f"{a / b:.3f}" if a and b else "–"
                runs = "/".join(
                    str(sum(1 for r in mine if r["variant"] == v)) for v in VARIANTS
                )
                complete = [
                    r.get("history_complete") for r in mine if "history_rows" in r
                ]
                ok = "yes" if complete and all(complete) else "**NO**"
                lines.append(
                    f"| {phase} | {title} | {fmt(a)} | {fmt(b)} | {ratio} | {runs} "
                    f"| {ok} |"
                )
    return "\n".join(lines)


def report(path: Path, run_id: str | None) -> int:
    wanted, chosen = load_run(path, run_id, "history_bench.py")
    print(f"run {wanted}: {len(chosen)} results from {path}\n")
    print(table(chosen))
    return 0


# ------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--part", choices=("store", "server", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=1, help="server runs per variant")
    ap.add_argument("--quick", action="store_true", help="small counts, smoke test")
    ap.add_argument("--entries", type=int, default=300_000, help="store part")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument(
        "--shared-bench", type=Path, default=repo.parent / "shared" / "bench"
    )
    ap.add_argument("--venv", type=Path, default=repo / ".venv" / "bin")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--report", type=Path, metavar="JSONL")
    ap.add_argument("--run-id")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return report(args.report, args.run_id)
    out = results_file("history", args.quick, args.out)
    common = run_header("history", argv, bench_quick=args.quick)
    run_id = common["bench_run_id"]
    records: list[dict[str, Any]] = []

    def keep(record: dict[str, Any]) -> None:
        record.update(common)
        records.append(record)
        append_record(out, record)

    failed = False
    if args.part in ("store", "both"):
        entries = 20_000 if args.quick else args.entries
        for record in store_part(
            entries, ((100, 1), (1000, 1), (10_000, 1), (10_000, 100))
        ):
            keep(record)
    if args.part in ("server", "both"):
        args.shared_bench = args.shared_bench.resolve()
        chatload = ensure_chatload(args.shared_bench)
        raise_nofile()
        port = pick_ports(1, 27150)[0]
        phases = QUICK_PHASES if args.quick else SERVER_PHASES
        for k in range(args.repeat):
            for phase, words in phases.items():
                order = VARIANTS if k % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    port = free_port_like(port)
                    record = server_run(
                        args,
                        variant=variant,
                        phase=phase,
                        words=words,
                        port=port,
                        chatload=chatload,
                    )
                    if record is None:
                        failed = True
                        continue
                    record["bench_repeat"] = k
                    failed |= record.get("exit") != 0
                    failed |= record.get("history_complete") is False
                    keep(record)
    git = common["bench_git"]
    print(
        f"\nhistory benchmark, run {run_id}, txchat {git['commit']}"
        f"{' + uncommitted chat/ changes' if git['chat_dirty'] else ''}; "
        f"medians of {args.repeat}; results in {out}\n"
    )
    print(table(records))
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

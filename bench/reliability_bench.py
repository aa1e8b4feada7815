#!/usr/bin/env python3
"""
Issue 15: the shared reliability scenarios (``../shared/bench/reliability/
rel.py``) with txchat builds beside the daemons, in one run.

rel.py knows one txchat, the ``twistd`` that ``TXCHAT_TWISTD`` names; this
adds the builds and configurations the issue compares, each on a port of
its own, and then runs rel.py's own ``main`` (same arguments):

  txchat-before       --before's twistd, its defaults (the build before
                      issue 15)
  txchat              this checkout's twistd with ``--exempt 127.0.0.0/8``:
                      no per-address or flood limits, as the daemons'
                      benchmark configurations (``ngircd``, ``inspircd``)
  txchat-stock        this checkout's defaults, the per-address limits
                      lifted so that 50 loopback clients fit, as rel.py's
                      ``*-stock`` daemons lift theirs (rel.py gives
                      ``*-stock`` servers its gentler moderate rate)
  txchat-stock-ipcap  this checkout's defaults, nothing lifted (for perip)
  txchat-before-stock the build before, for the flood scenario beside the
                      *-stock servers (rel.py's gentler moderate rate)

  .venv/bin/python bench/reliability_bench.py \\
      --before ../rel-before/.venv/bin/twistd \\
      --servers txchat-before,txchat-stock,ngircd-stock,inspircd-stock \\
      --scenarios slow,flood
  python3 ../shared/bench/reliability/report.py bench/results/reliability-DATE.jsonl
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIFTED = ["--connections-per-address", "100000", "--connections-per-minute", "1000000"]


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


def txchat(twistd: str, port: int, *extra: str) -> dict[str, object]:
    """
    A rel.py server entry for one txchat build.
    """
    database = os.path.join(tempfile.gettempdir(), f"txchat-rel-{port}.sqlite3")
    return {
        "cmd": [
            twistd,
            "-n",
            "--pidfile=",
            "chat",
            "--listen",
            f"tcp:{port}:interface=127.0.0.1",
            "--database",
            database,
            *no_web(twistd),
            *extra,
        ],
        "port": port,
        "proto": "txchat",
        "conn_window": 100,
        "logfile": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--before", required=True, help="twistd of the build before")
    parser.add_argument("--bench", default=str(HERE.parent.parent / "shared" / "bench"))
    ours, rest = parser.parse_known_args()
    sys.path.insert(0, os.path.join(ours.bench, "reliability"))
    import rel  # type: ignore[import-not-found]

    after = str(HERE.parent / ".venv" / "bin" / "twistd")
    rel.SERVERS["txchat-before"] = txchat(ours.before, 26620)
    # The same build, named so that rel.py gives it the gentler moderate
    # rate of its flood scenario, as the *-stock servers it is compared to.
    rel.SERVERS["txchat-before-stock"] = txchat(ours.before, 26624)
    rel.SERVERS["txchat"] = txchat(after, 26621, "--exempt", "127.0.0.0/8")
    rel.SERVERS["txchat-stock"] = txchat(after, 26622, *LIFTED)
    rel.SERVERS["txchat-stock-ipcap"] = txchat(after, 26623)
    if not any(arg.startswith("--out") for arg in rest):
        rest += [
            "--out",
            str(HERE / "results" / f"reliability-{time.strftime('%Y-%m-%d')}.jsonl"),
        ]
    sys.argv = [sys.argv[0], *rest]
    rel.main()


if __name__ == "__main__":
    main()

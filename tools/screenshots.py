"""
Regenerate the screenshots of the web client in C{docs/screenshots/}:
C{desktop-light.png}, C{desktop-dark.png}, C{phone-light.png} and
C{phone-dark.png}.

It starts the installed C{twistd chat} with its web door on loopback ports
of its own, plays a small realistic chat into it (the browser tests'
L{tests.browser.support.scene}: two browser users, an C{nc} user, a room
with a topic, a private conversation with a file offer) and photographs
what alice's page shows, in Debian's Chromium. Run it from the repository
root as C{make screenshots} (C{python -m tools.screenshots}).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Literal
from unittest import SkipTest

from tests.browser.support import DESKTOP, PHONE, scene, start_server

FORMS: Sequence[tuple[str, tuple[int, int]]] = (("desktop", DESKTOP), ("phone", PHONE))
SCHEMES: Sequence[Literal["light", "dark"]] = ("light", "dark")


class Run:
    """
    What the browser tests' helpers need of a test case: a scratch
    directory and cleanups, done in reverse order by L{close}.
    """

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="txchat-screenshots-")
        self._cleanups: list[Callable[[], object]] = []
        self._made = 0

    def addCleanup(self, f: Callable[[], object]) -> None:
        self._cleanups.append(f)

    def mktemp(self) -> str:
        self._made += 1
        return os.path.join(self.directory, f"temp{self._made}")

    def close(self) -> None:
        errors = []
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception as e:  # every cleanup runs; the first error is raised
                errors.append(e)
        shutil.rmtree(self.directory, ignore_errors=True)
        if errors:
            raise errors[0]


def take(output: str) -> list[str]:
    """
    Play the scene and write the four screenshots into C{output}; their
    paths.
    """
    run = Run()
    written = []
    try:
        server = start_server(run)
        page = scene(run, server).page
        for form, (width, height) in FORMS:
            page.set_viewport_size({"width": width, "height": height})
            for scheme in SCHEMES:
                page.emulate_media(color_scheme=scheme)
                path = os.path.join(output, f"{form}-{scheme}.png")
                page.screenshot(path=path, animations="disabled", caret="hide")
                written.append(path)
    finally:
        run.close()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument(
        "--output",
        default=os.path.join("docs", "screenshots"),
        help="where to write the PNG files (default: docs/screenshots)",
    )
    args = parser.parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    try:
        written = take(args.output)
    except SkipTest as e:
        print(f"screenshots: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

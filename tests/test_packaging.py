"""
The three lists of what txchat needs agree: the lower bounds of
C{setup.cfg} are what C{make test-lowest} installs (C{requirements/lowest.txt}),
and the lock (C{requirements/dev.txt}) has everything C{setup.cfg} asks for.
Nothing else keeps them in step when one of them is edited.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from twisted.trial.unittest import SynchronousTestCase

#: The checkout the tests run from.
REPO = Path(__file__).parent.parent


def declared() -> list[Requirement]:
    """
    What C{setup.cfg} asks for: C{install_requires} and the C{dev} extra.
    """
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg", encoding="utf-8")
    lines = (
        config["options"]["install_requires"].splitlines()
        + config["options.extras_require"]["dev"].splitlines()
    )
    return [Requirement(line) for line in lines if line.strip()]


def pins(path: Path) -> dict[NormalizedName, Version]:
    """
    The C{name==version} pins of a requirements file, by normalised name;
    comments, hashes and continuations are skipped.
    """
    found: dict[NormalizedName, Version] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip().removesuffix("\\").strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        [spec] = requirement.specifier
        assert spec.operator == "==", line
        found[canonicalize_name(requirement.name)] = Version(spec.version)
    return found


class RequirementsTests(SynchronousTestCase):
    """
    C{setup.cfg}, C{requirements/lowest.txt} and C{requirements/dev.txt}.
    """

    def test_lowest_are_the_bounds(self) -> None:
        """
        Each requirement of C{setup.cfg} has one lower bound, and
        C{requirements/lowest.txt} pins exactly those names at exactly
        those versions: otherwise C{make test-lowest} tests other versions
        than users may get.
        """
        bounds: dict[NormalizedName, Version] = {}
        for requirement in declared():
            lower = [s for s in requirement.specifier if s.operator == ">="]
            self.assertEqual(len(lower), 1, requirement)
            bounds[canonicalize_name(requirement.name)] = Version(lower[0].version)
        lowest = pins(REPO / "requirements" / "lowest.txt")
        self.assertEqual(sorted(bounds), sorted(lowest))
        for name, bound in bounds.items():
            self.assertEqual(bound, lowest[name], name)

    def test_lock_has_every_requirement(self) -> None:
        """
        The lock pins every requirement of C{setup.cfg} at a version it
        allows: it was made from this C{setup.cfg} (C{make lock}).
        """
        locked = pins(REPO / "requirements" / "dev.txt")
        for requirement in declared():
            name = canonicalize_name(requirement.name)
            self.assertIn(name, locked)
            self.assertIn(locked[name], requirement.specifier, requirement)

"""
The map of C{docs/architecture.rst}, checked: imports point one way
(doors -> core -> store -> errors and events), with no cycles, not even
under C{TYPE_CHECKING}.
"""

from __future__ import annotations

import ast
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import chat

ROOT = Path(chat.__file__).parent

# What each layer may import from txchat (itself always); the first
# matching prefix decides.
ALLOWED: list[tuple[str, tuple[str, ...]]] = [
    ("chat.errors", ()),
    ("chat.events", ("chat.errors",)),
    ("chat.units", ()),
    ("chat.store", ("chat.errors", "chat.store")),
    ("chat.core", ("chat.errors", "chat.events", "chat.store", "chat.core")),
    (
        "chat.lines",
        (
            "chat.errors",
            "chat.events",
            "chat.units",
            "chat.core",
            "chat.store",
            "chat.lines",
        ),
    ),
    # The web door reuses the line door's syntax, commands, rendering and
    # output: a message over the WebSocket is a line.
    (
        "chat.web",
        (
            "chat.errors",
            "chat.events",
            "chat.units",
            "chat.core",
            "chat.store",
            "chat.lines",
            "chat.web",
        ),
    ),
    (
        "chat.client",
        ("chat.units", "chat.core.names", "chat.lines.syntax", "chat.client"),
    ),
    ("chat.tap", ("chat.core", "chat.lines", "chat.store", "chat.web")),
    ("chat", ()),
]


def modules() -> dict[str, Path]:
    """
    Every module of the C{chat} package, by dotted name.
    """
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path: Path) -> set[str]:
    """
    The C{chat} modules C{path} imports, wherever the import statement is.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n == "chat" or n.startswith("chat.")}


class LayoutTests(SynchronousTestCase):
    """
    The package's imports follow the map.
    """

    def setUp(self) -> None:
        self.modules = modules()
        known = set(self.modules)
        # An imported name that is not a module (a class) counts as its
        # module.
        self.graph = {
            name: {
                i if i in known else i.rpartition(".")[0]
                for i in imports(path)
                if (i if i in known else i.rpartition(".")[0]) in known
            }
            - {name}
            for name, path in self.modules.items()
        }

    def test_layers(self) -> None:
        """
        Each module imports only from the layers below it (and its own).
        """
        wrong = []
        for name, targets in sorted(self.graph.items()):
            allowed = next(a for prefix, a in ALLOWED if name.startswith(prefix))
            for target in sorted(targets):
                if not any(target.startswith(a) for a in allowed):
                    wrong.append(f"{name} -> {target}")
        self.assertEqual(wrong, [])

    def test_no_cycles(self) -> None:
        """
        No module imports, through others, a module that imports it.
        """
        cycles = []
        for start in sorted(self.graph):
            seen: set[str] = set()
            stack = list(self.graph[start])
            while stack:
                current = stack.pop()
                if current == start:
                    cycles.append(start)
                    break
                if current not in seen:
                    seen.add(current)
                    stack.extend(self.graph.get(current, ()))
        self.assertEqual(cycles, [])

    def test_core_has_no_door(self) -> None:
        """
        The core knows no sockets, wire formats or paths: it imports no
        transport, no JSON, no file system module.
        """
        forbidden = {"json", "os", "socket", "ssl", "twisted.internet.tcp"}
        found = []
        for name, path in self.modules.items():
            if not name.startswith("chat.core"):
                continue
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    used = {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    used = {node.module}
                else:
                    continue
                found += [f"{name}: {u}" for u in used if u in forbidden]
        self.assertEqual(found, [])

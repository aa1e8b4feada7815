"""
Quantities as people read them, for the server's text mode and the client.
"""

from __future__ import annotations


def human_size(size: float) -> str:
    """
    C{size} bytes as people read it: C{512 B}, C{2.0 MiB}.
    """
    if size < 1024:
        return f"{int(size)} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"

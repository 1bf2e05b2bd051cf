"""Look-alike data is a property of the data: `posebench sample` marks its trees, `prepare` carries the mark
into the prepared file's attributes (and content hash), and every run, report and leaderboard made from it
says so and never ranks it beside published figures.
"""
from __future__ import annotations

import os
from pathlib import Path

# posebench-sample.json is every writer's summary; POSEBENCH-LOOKALIKE is the explicit mark of `posebench sample`.
MARKERS = ("POSEBENCH-LOOKALIKE", "posebench-sample.json")
MARK_TEXT = ("This tree was written by `posebench sample`: synthetic poses in the official layout, not the real "
             "dataset. Anything prepared from it is marked look-alike and never ranked beside published results.\n")
NOTE = ("LOOK-ALIKE DATA: synthetic poses from posebench.sample, not the real dataset; scores are not comparable "
        "with published results")


def mark_tree(out: str | os.PathLike) -> Path:
    """Write the look-alike mark into a sampled tree; returns its path."""
    from posebench.io_utils import atomic_path

    path = Path(out) / MARKERS[0]
    with atomic_path(path) as tmp:
        Path(tmp).write_text(MARK_TEXT, encoding="utf-8")
    return path


def is_lookalike_tree(src: str | os.PathLike) -> bool:
    """True when ``src`` (or the folder above it, e.g. a test set inside a sampled tree) carries a mark."""
    src = Path(src)
    return any((folder / m).is_file() for folder in (src, src.parent) for m in MARKERS)


def lookalike_attrs(src: str | os.PathLike) -> dict[str, bool]:
    """Prepared-file attributes for a raw tree: {'lookalike': True} for a marked tree, {} for a real release."""
    return {"lookalike": True} if is_lookalike_tree(src) else {}

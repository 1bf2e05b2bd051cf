"""The switch for margipose's compiled kernels (numba, the optional ``fast`` extra), one place for all of them.

``POSEBENCH_NUMBA=0`` (or false / no) turns them off, as it does posebench's; a big-endian CPU or a missing numba
leaves them off. Each user (margipose.pixels, margipose.jpeg_parts) imports its kernel module through ``load``
on first use and keeps it; both paths give the same results, so the switch changes speed only.
"""
from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

ENABLE_ENV = "POSEBENCH_NUMBA"


def switched_off() -> bool:
    """True when the environment turns the compiled kernels off."""
    return os.environ.get(ENABLE_ENV, "").strip().lower() in ("0", "false", "no")


def load(module: str) -> ModuleType | None:
    """``margipose.<module>`` imported, or None: switched off, a big-endian CPU, or numba not installed."""
    if switched_off() or sys.byteorder != "little":
        return None
    try:
        return importlib.import_module(f"margipose.{module}")
    except ImportError:
        return None

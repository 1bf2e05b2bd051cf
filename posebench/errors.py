"""PosebenchError: the one base of every error the toolkit raises on bad input.

It subclasses ValueError so code that caught ValueError before keeps working; the `posebench`
command catches it once (`posebench.cli`) and prints its message as one line, without a traceback.
"""
from __future__ import annotations

__all__ = ["PosebenchError"]


class PosebenchError(ValueError):
    """Bad input to posebench (a file, a protocol, an option): the message says what and how to fix it."""

"""posebench: trustworthy 3D human pose benchmarking.

The public API: :func:`evaluate`, :func:`load_protocol`, :func:`list_protocols`,
:class:`PosebenchError` (the base of every error on bad input),
and the modules :mod:`posebench.metrics`, :mod:`posebench.align`, :mod:`posebench.skeleton`.
"""
from __future__ import annotations

from posebench.errors import PosebenchError

__version__ = "0.1.0"

__all__ = ["__version__", "PosebenchError", "evaluate", "load_protocol", "list_protocols"]


def __getattr__(name: str):
    # Lazy so that `import posebench` stays cheap (the CLI imports it for every command).
    if name == "evaluate":
        from posebench.evaluation import evaluate

        return evaluate
    if name in ("load_protocol", "list_protocols"):
        from posebench import protocols

        return getattr(protocols, name)
    raise AttributeError(name)

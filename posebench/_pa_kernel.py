"""When and how ``align.procrustes_errors`` uses the compiled kernel (``posebench._pa_numba``, needs numba).

numba is an optional extra (``pip install posebench[fast]``); without it, or when disabled, the NumPy path
runs. The kernel is loaded lazily, on the first batch large enough to repay the load, so short commands never
import numba:
- ``POSEBENCH_NUMBA=0`` disables it, ``=1`` uses it for every batch of at least ``MIN_POSES`` poses (it is
  loaded on first use); unset: loaded for a batch of ``LOAD_POSES`` poses or more (or when a caller announces,
  with :func:`expect`, a series of batches that many poses in all: ``evaluate`` scores in row blocks), then
  used for every batch of ``MIN_POSES`` or more. Compiled code is cached on disk (numba's cache: beside the module, or in the user's
  cache directory when the install is read-only, or in ``NUMBA_CACHE_DIR``), so only the first run on a
  machine compiles (seconds); later processes load it (a fraction of a second, with numba's import).
- Threads: ``POSEBENCH_THREADS`` (default: numba's thread count, i.e. the cores, or ``NUMBA_NUM_THREADS``).
Rows the kernel cannot settle (collapsed or degenerate fits, NaN) come back as indices for the NumPy path.
"""
from __future__ import annotations

import os
import threading
from types import ModuleType

import numpy as np

ENABLE_ENV = "POSEBENCH_NUMBA"
THREADS_ENV = "POSEBENCH_THREADS"
MIN_POSES = 2048  # below this the NumPy path is as fast as entering the kernel
# Importing numba and loading the cached kernel costs ~0.7 s cpu (0.25 s import + 0.45 s first call, cache
# warm; it also imports scipy.linalg: +100 MB peak RSS); the kernel saves ~0.6 us cpu a pose over NumPy (0.24
# against 0.84 us/pose in 65,536-pose batches, threads counted): ~1.2 million poses repay the load. Measured on
# `evaluate -p h36m-lifting` (543,344 poses): with the kernel +0.45 s cpu and +100 MB peak.
LOAD_POSES = 1_200_000
THREADS: int | None = None  # overrides POSEBENCH_THREADS when set (the benchmark uses it)

_kernel: ModuleType | None = None
_unavailable = False
_lock = threading.Lock()  # numba's default thread pool must not be entered from two threads at once


def _setting() -> str:
    value = os.environ.get(ENABLE_ENV, "").strip().lower()
    return {"0": "off", "false": "off", "no": "off", "1": "on", "true": "on", "yes": "on"}.get(value, "auto")


def _load() -> ModuleType | None:
    """The kernel module, imported on first call; None when numba is not installed."""
    global _kernel, _unavailable
    if _kernel is None and not _unavailable:
        try:
            from posebench import _pa_numba
        except ImportError:
            _unavailable = True
        else:
            _kernel = _pa_numba
    return _kernel


def available() -> bool:
    """True when numba is installed and the kernel is not disabled (imports numba)."""
    return _setting() != "off" and _load() is not None


def wanted(n: int) -> bool:
    """Whether a batch of n poses should go to the compiled kernel (loads it when worth it)."""
    setting = _setting()
    if setting == "off" or n < MIN_POSES or _unavailable:
        return False
    if _kernel is None and setting == "auto" and n < LOAD_POSES:
        return False
    return _load() is not None


def expect(total: int) -> bool:
    """A series of batches of ``total`` poses in all follows: load the kernel now if that repays it (as wanted)."""
    return wanted(total)


def threads() -> int:
    """Threads the kernel runs on: THREADS, else POSEBENCH_THREADS, else numba's count (at most that)."""
    import numba

    most = numba.config.NUMBA_NUM_THREADS
    asked = THREADS if THREADS is not None else os.environ.get(THREADS_ENV, "").strip()
    try:
        k = int(asked) if asked != "" else most
    except ValueError:
        k = most
    return max(1, min(k, most))


def procrustes_errors(p: np.ndarray, g: np.ndarray, fit: np.ndarray, reflection: bool,
                      cols: np.ndarray | None, mean: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """(errors (N, len(cols)), or with ``mean`` each row's mean over them (N,); indices of rows for the NumPy
    path) by the kernel; None if it cannot take these.

    p, g: (N, J, 3) checked batches; fit: sorted unique joint indices; cols: joint indices (None: all).
    """
    kernel = _load()
    n, nj = p.shape[:2]
    if kernel is None or nj == 0 or (mean and cols is not None and len(cols) == 0):
        return None
    cols = np.arange(nj) if cols is None else np.asarray(cols, dtype=np.int64)
    cols = np.where(cols < 0, cols + nj, cols)
    if cols.size and (cols.min() < 0 or cols.max() >= nj):
        return None  # out of range: the NumPy path raises its own error
    arrays = []
    for a in (p, g):
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)
        arrays.append(np.ascontiguousarray(a))
    out = np.empty((0 if mean else n, len(cols)))
    means = np.empty(n if mean else 0)
    flags = np.zeros(n, dtype=np.bool_)
    import numba

    with _lock:
        k = threads()
        numba.set_num_threads(k)
        kernel.procrustes_errors(arrays[0], arrays[1], np.ascontiguousarray(fit, dtype=np.uint64),
                                 cols.astype(np.uint64), bool(reflection), out, means, flags, k)
    return (means if mean else out), np.flatnonzero(flags)

"""Poses -> per-joint errors: the protocol's rescaling and alignments, block by block over rows, on threads.

Every step is per row, so blocks can run in any order on any thread and the float64 result is the same; NumPy
releases the GIL inside each step, so a second core halves the wall time of scoring a large file.
:func:`compute_errors` gives the float64 errors (the API's exact figures); :func:`score_rows` gives a run as
it is stored, with the exact per-row values its summary is taken from.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from posebench import _pa_kernel
from posebench import align as _align
from posebench import metrics as _metrics
from posebench.aggregates import per_row
from posebench.errors import PosebenchError
from posebench.protocols import Protocol
from posebench.runstore import stored_errors
from posebench.skeleton import ROOT

SCORE_BLOCK_ROWS = 8192  # rows per scoring block (align.CHUNK): ~3.3 MB float64 working copies each, per thread


class RowsAbandoned(PosebenchError):
    """The column being read will not arrive (its reader failed): the reader's error says why."""


class ArrivingRows:
    """A (n, J, 3) column whose leading rows arrive over time, for scoring while it is read: ``gt[a:b]`` waits
    until rows up to b are in. The reader calls :meth:`put` (``read_prepared``'s ``stream``) as rows come and
    :meth:`fail` if it stops; scoring then raises :class:`RowsAbandoned`. Scores made from it stand only once
    the reader has returned (verified)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._array: np.ndarray | None = None
        self._ready = 0
        self._failed = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return self.n

    def put(self, array: np.ndarray, ready: int) -> None:
        """The first ``ready`` rows of ``array`` (the column being filled) are final."""
        with self._cond:
            self._array, self._ready = array, ready
            self._cond.notify_all()

    def fail(self) -> None:
        """No more rows will come."""
        with self._cond:
            self._failed = True
            self._cond.notify_all()

    def __getitem__(self, sl: slice) -> np.ndarray:
        stop = self.n if sl.stop is None else min(sl.stop, self.n)
        with self._cond:
            self._cond.wait_for(lambda: self._failed or (self._array is not None and self._ready >= stop))
            if self._failed:
                raise RowsAbandoned("the scored column was not read")
            return self._array[sl]


def scoring_threads() -> int:
    """Threads that score row blocks: POSEBENCH_THREADS if set, else the cores this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    asked = os.environ.get(_pa_kernel.THREADS_ENV, "").strip()
    try:
        k = int(asked) if asked else cores
    except ValueError:
        k = cores
    return max(1, min(k, cores))


def prepare_poses(protocol: Protocol, pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root-centre both skeletons and apply the protocol's prediction rescaling: the poses exactly as scored."""
    gt = _align.root_centre(np.asarray(gt, dtype=np.float64), ROOT)
    pred = _align.root_centre(np.asarray(pred, dtype=np.float64), ROOT)
    if protocol.rescale == "knee_neck_920":
        pred = _align.knee_neck_rescale(pred, 920.0)
    return pred, gt


def _plan(protocol: Protocol) -> dict[tuple, list[str]]:
    """(alignment, fit joints, scored joints) -> the metrics sharing those errors."""
    plan: dict[tuple, list[str]] = {}
    for m in protocol.metrics:
        plan.setdefault((m.align, m.fit_joints if m.align != "none" else (), tuple(m.joints)), []).append(m.name)
    return plan


def _block_errors(protocol: Protocol, plan: dict[tuple, list[str]], pred: np.ndarray, gt: np.ndarray
                  ) -> dict[tuple, np.ndarray]:
    """Float64 per-joint errors (n, J') of one block of rows, per plan key.

    The block is transposed once into the components-major layout the similarity fit works in, root-centred
    there, and every alignment is computed from it: one transposition instead of a root-centred copy of each
    side plus the fit's own transposition. Where the compiled Procrustes kernel is loaded, its (n, J, 3) path
    runs instead (``_block_errors_by_pose``).
    """
    if any(a in _PROCRUSTES for a, _, _ in plan) and _pa_kernel.wanted(len(pred)):
        return _block_errors_by_pose(protocol, plan, pred, gt)
    _metrics.check_poses(pred, gt, finite=any(joints != tuple(range(np.shape(pred)[1])) for _, _, joints in plan))
    if protocol.rescale == "none":
        x = _align.components(np.asarray(pred), np.asarray(gt))
        x -= x[:, ROOT].copy()[:, None, :]  # root-centred: the same subtraction as align.root_centre
    else:
        x = _align.components(*prepare_poses(protocol, pred, gt))
    nj = x.shape[1]
    keys = sorted(plan, key=lambda k: k[0] in _PROCRUSTES)  # the fits centre x in place: they come last
    fits = [k for k in keys if k[0] in _PROCRUSTES]
    done: dict[tuple, np.ndarray] = {}
    out = {}
    try:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # non-finite input: checked below
            for key in keys:
                align, fit, joints = key
                cols = None if joints == tuple(range(nj)) else np.asarray(joints, dtype=np.int64)
                if align == "none":
                    e = _distances(x, cols, None)
                elif align == "scale":
                    e = _distances(x, cols, _scale_factors(x, np.unique(np.asarray(fit, dtype=np.int64)), nj))
                elif (align, fit) in done:  # another joint subset of a fit already made: its full errors
                    e = done[(align, fit)] if cols is None else done[(align, fit)][cols]
                else:
                    xk = x if key == fits[-1] else x.copy()
                    full = _align.procrustes_errors_of_components(xk, np.unique(np.asarray(fit, dtype=np.int64)),
                                                                  align == "procrustes_reflect", None)
                    done[(align, fit)] = full  # its own workspace's buffer: nothing writes it again
                    e = full if cols is None else full[cols]
                out[key] = np.ascontiguousarray(e.T)
    except np.linalg.LinAlgError:  # LAPACK refuses NaN/inf: say which input holds them
        _metrics.check_poses(pred, gt)
        raise
    if not all(np.isfinite(np.add.reduce(e, axis=None)) for e in out.values()):
        _metrics.check_poses(pred, gt)  # raises on NaN/inf inputs; finite inputs whose errors overflow stay as they are
    return out


_PROCRUSTES = ("procrustes", "procrustes_reflect")


def _distances(x: np.ndarray, cols: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    """(J', n) distances of the (scaled) prediction to the ground truth in the (6, J, n) layout: the operations
    of ``metrics.joint_errors`` in the same order, so the same bits."""
    p, g = x[0:3], x[3:6]
    if cols is not None:
        p, g = p[:, cols], g[:, cols]
    d = p - g if scale is None else p * scale
    if scale is not None:
        d -= g
    d *= d
    o = d[0] + d[1]
    o += d[2]
    return np.sqrt(o, out=o)


def _scale_factors(x: np.ndarray, fit: np.ndarray, nj: int) -> np.ndarray:
    """Per-pose s = <pred, gt> / <pred, pred> over the fit joints (0 for an all-zero prediction), as
    ``align.scale_factors`` (sums in another order: equal to rounding)."""
    p, g = x[0:3], x[3:6]
    if len(fit) != nj:
        p, g = p[:, fit], g[:, fit]
    pp = np.einsum("ajn,ajn->n", p, p)
    return _align.scale_ratio(np.einsum("ajn,ajn->n", p, g), pp)


def _block_errors_by_pose(protocol: Protocol, plan: dict[tuple, list[str]], pred: np.ndarray, gt: np.ndarray
                          ) -> dict[tuple, np.ndarray]:
    """Float64 per-joint errors of one block of rows, per plan key, through ``metrics.joint_errors``."""
    p, g = prepare_poses(protocol, pred, gt)
    done: dict[tuple, np.ndarray] = {}
    out = {}
    for key in plan:
        align, fit, joints = key
        if (align, fit) not in done:
            done[(align, fit)] = _metrics.joint_errors(p, g, align=align, fit_joints=list(fit))
        e = done[(align, fit)]
        out[key] = e if joints == tuple(range(e.shape[1])) else np.take(e, list(joints), axis=1)
    return out


def _run_blocks(n: int, score: Callable[[slice], None], threads: int | None) -> None:
    """score(slice) over the row blocks of range(n), on ``threads`` threads; the first failing block's error
    (in row order) is raised."""
    slices = [slice(lo, min(n, lo + SCORE_BLOCK_ROWS)) for lo in range(0, max(n, 1), SCORE_BLOCK_ROWS)]
    k = min(threads or scoring_threads(), len(slices))
    if k <= 1:
        for sl in slices:
            score(sl)
        return
    with ThreadPoolExecutor(max_workers=k) as pool:  # NumPy releases the GIL inside every step
        for job in [pool.submit(score, sl) for sl in slices]:
            job.result()


def _start(protocol: Protocol, pred: np.ndarray, gt: np.ndarray, pred_at: np.ndarray | None
           ) -> tuple[dict[tuple, list[str]], Callable[[slice], np.ndarray]]:
    """The plan, and the function giving a block's predictions (gathered through ``pred_at`` when given)."""
    if pred_at is None:
        if len(gt) != len(pred):
            raise ValueError(f"{len(pred)} predictions for {len(gt)} ground-truth rows")
        rows_of: Callable[[slice], np.ndarray] = pred.__getitem__
    else:
        pred, pred_at = np.asarray(pred), np.asarray(pred_at)
        if pred_at.ndim != 1 or len(pred_at) != len(gt):
            raise ValueError(f"pred_at names {len(pred_at)} predictions for {len(gt)} ground-truth rows")
        if len(pred_at) and (pred_at.min() < 0 or pred_at.max() >= len(pred)):
            raise ValueError(f"pred_at holds positions outside the {len(pred)} predictions")

        def rows_of(sl: slice) -> np.ndarray:
            return np.take(pred, pred_at[sl], axis=0)
    plan = _plan(protocol)
    fits = {(a, f) for a, f, _ in plan if a.startswith("procrustes")}
    if fits:  # scored in blocks: the compiled kernel (if any) is loaded on the total, not on one block
        _pa_kernel.expect(len(gt) * len(fits))
    return plan, rows_of


def compute_errors(protocol: Protocol, pred: np.ndarray, gt: np.ndarray, *, threads: int | None = None,
                   pred_at: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-joint errors (N, J_scored) float64 for every metric of the protocol, after its rescaling and alignments.

    Rows are scored in blocks (every step is per row, so the result is the same whatever the blocks, their
    order or the threads), which bounds the float64 working copies to one block per thread. Metrics that share
    an alignment and joints share one array. ``pred_at`` (N,): the positions in ``pred`` of the rows of ``gt``
    (a predictions file covering more rows, or in another order); each block gathers its own rows, so no
    reordered copy of ``pred`` is made.
    """
    n = len(gt)
    plan, rows_of = _start(protocol, pred, gt, pred_at)
    out = {key: np.empty((n, len(key[2]))) for key in plan}

    def score(sl: slice) -> None:
        for key, e in _block_errors(protocol, plan, rows_of(sl), gt[sl]).items():
            out[key][sl] = e

    _run_blocks(n, score, threads)
    key_of = {name: key for key, names in plan.items() for name in names}
    return {m.name: out[key_of[m.name]] for m in protocol.metrics}


def score_rows(protocol: Protocol, pred: np.ndarray, gt: np.ndarray, *, threads: int | None = None,
               pred_at: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(errors {metric: (N, J) float32 as a run stores them}, per-row values {metric: (N,) float64, summary units}).

    What ``evaluate`` runs when it saves the run: each block is scored in float64 exactly as by
    :func:`compute_errors`; its per-row values (from which the summary and breakdowns are taken) come from the
    float64 errors, which are then kept only as stored (float32 rounded away from the metric's thresholds,
    ``runstore.stored_errors``). The (N, J) float64 arrays never exist: half the memory, no conversion at save.
    ``pred_at``: as for :func:`compute_errors`.
    """
    n = len(gt)
    plan, rows_of = _start(protocol, pred, gt, pred_at)
    key_of = {name: key for key, names in plan.items() for name in names}
    errors = {m.name: np.empty((n, len(m.joints)), np.float32) for m in protocol.metrics}
    values = {m.name: np.empty(n) for m in protocol.metrics}

    def score(sl: slice) -> None:
        block = _block_errors(protocol, plan, rows_of(sl), gt[sl])
        full = {name: block[key] for name, key in key_of.items()}
        for name, e32 in stored_errors(protocol, full).items():
            errors[name][sl] = e32
            values[name][sl] = per_row(full[name], protocol, name)

    _run_blocks(n, score, threads)
    return errors, values

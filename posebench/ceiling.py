"""What the ground truth itself scores under a protocol on the data at hand, and a hint when predictions look
like the other target (true-scale `joints3d` vs universal `joints3d_univ`).

On real-scale-consistent data the ceiling is perfect (0 mm, 100 % PCK); a rescaling rule (the 920 mm
knee-neck rule) can move the ground truth away from itself, and the ceiling says by how much.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from posebench.protocols import Protocol
from posebench.skeleton import ROOT

TARGETS = ("joints3d", "joints3d_univ")
# A hint is given when the predictions are this much closer (MPJPE ratio) to the other target.
HINT_RATIO = 0.7


def ceiling(protocol: Protocol, rows: np.ndarray, codes: Mapping[str, tuple[np.ndarray, np.ndarray]],
            errors: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """{'summary': {metric: value}, 'perfect': bool, 'note': str}: the ground truth scored as predictions.

    ``errors``: the per-joint errors of the ground truth against itself under the protocol (None: without a
    rescaling every alignment maps a pose onto itself, so all are zero).
    """
    from posebench.results import Result

    zeros = errors is None
    if zeros:
        zero = np.zeros((1, 1))  # one read-only zero seen as every row's errors: no (N, J) array is made
        errors = {m.name: np.broadcast_to(zero, (len(rows), len(m.joints))) for m in protocol.metrics}
    r = Result({}, protocol, rows.astype(np.int64), errors, codes=codes)
    summary = {m.name: float(r.aggregate(m.name)) for m in protocol.metrics}
    perfect = zeros or all(np.allclose(e, 0.0, atol=1e-6) for e in errors.values())
    if perfect:
        note = "The ground truth scores perfectly under this protocol on this data"
    else:
        worst = max(float(np.max(e)) for e in errors.values())
        note = (f"The ground truth itself is not perfect here: the protocol's {protocol.rescale} rescaling moves it "
                f"(up to {worst:.0f} mm per joint); scores above this ceiling are not reachable on this data")
    return {"summary": summary, "perfect": perfect, "note": note}


def target_hint(protocol: Protocol, data: Any, rows: np.ndarray, pred: np.ndarray) -> str | None:
    """A one-line hint when root-relative predictions are much closer to the other target column."""
    other = next((t for t in TARGETS if t != protocol.target and t in data), None)
    if other is None or protocol.target not in TARGETS or protocol.rescale != "none":  # rescaling hides scale
        return None

    def mpjpe(col: str) -> float:
        gt = np.asarray(data[col], dtype=np.float64)[rows]
        gt = gt - gt[:, ROOT:ROOT + 1]
        p = pred - pred[:, ROOT:ROOT + 1]
        return float(np.linalg.norm(p - gt, axis=-1).mean())

    mine, theirs = mpjpe(protocol.target), mpjpe(other)
    if theirs < HINT_RATIO * mine:
        kind = {"joints3d": "true-scale `joints3d`", "joints3d_univ": "universal-scale `joints3d_univ`"}
        return (f"the predictions look like {kind[other]} (MPJPE {theirs:.0f} mm against it vs {mine:.0f} mm against "
                f"the scored {kind[protocol.target]}): check which target the model was trained for")
    return None

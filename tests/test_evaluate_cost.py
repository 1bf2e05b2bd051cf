"""evaluate's cost-bound paths: one check per array, no needless copies, the kernel loaded on the whole series."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import posebench
from posebench import _pa_kernel, evaluation, scoring
from posebench.predictions import PredictionsError, check_millimetres, check_predictions, write_predictions
from posebench.protocols import load_protocol
from posebench.skeleton import from_canonical
from test_importers import _h36m_data, _predictions

HAS_NUMBA = importlib.util.find_spec("numba") is not None


def test_check_predictions_keeps_float64_and_int64_without_copying():
    rng = np.random.default_rng(0)
    j = rng.normal(size=(50, 17, 3)) * 300
    idx = np.arange(50, dtype=np.int64)
    out_j, out_i = check_predictions(j, idx)
    assert out_j is j and out_i is idx
    f32, _ = check_predictions(j.astype(np.float32), idx)
    assert f32.dtype == np.float64 and np.array_equal(f32, j.astype(np.float32).astype(np.float64))


def test_units_check_is_blockwise_and_still_names_every_bad_row(monkeypatch):
    rng = np.random.default_rng(1)
    j = rng.normal(size=(1000, 17, 3)) * 300
    j[[3, 500, 999]] /= 1000  # three rows in metres, in three different blocks
    monkeypatch.setattr("posebench.predictions.UNITS_BLOCK_ROWS", 7)
    with pytest.raises(PredictionsError, match=r"metres in 3 of 1000 rows .*positions 3, 500, 999"):
        check_millimetres(j)
    monkeypatch.setattr("posebench.predictions.UNITS_BLOCK_ROWS", 65536)
    with pytest.raises(PredictionsError, match=r"metres in 3 of 1000 rows .*positions 3, 500, 999"):
        check_millimetres(j)


def test_reordered_file_is_unit_checked_after_reordering(tmp_path):
    """A file in another joint order skips the units check while read, and gets it once reordered (every row)."""
    data = _h36m_data()
    pred = _predictions(data["joints3d"])
    pred[5] /= 1000  # one row in metres
    path = tmp_path / "h36m17.h5"
    write_predictions(path, from_canonical(pred, "h36m17"), np.arange(len(pred)))
    with pytest.raises(PredictionsError, match=r"h36m17\.h5: joints3d looks like metres in 1 of .*positions 5"):
        posebench.evaluate(path, "h36m-lifting", data, joint_order="h36m17")
    with pytest.raises(PredictionsError, match=r"joints3d looks like metres in 1 of .*positions 5"):
        posebench.evaluate((from_canonical(pred, "h36m17"), np.arange(len(pred))), "h36m-lifting", data,
                           joint_order="h36m17")


@pytest.mark.skipif(not HAS_NUMBA, reason="the compiled kernel needs the optional numba extra")
def test_blockwise_scoring_loads_the_kernel_on_the_total(monkeypatch):
    """compute_errors scores in blocks smaller than LOAD_POSES: the series' total decides, results unchanged."""
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(3000, 17, 3)) * 200
    pred = gt + rng.normal(size=gt.shape) * 30
    protocol = load_protocol("h36m-lifting")
    monkeypatch.delenv(_pa_kernel.ENABLE_ENV, raising=False)
    monkeypatch.setattr(scoring, "SCORE_BLOCK_ROWS", 1000)
    monkeypatch.setattr(_pa_kernel, "MIN_POSES", 500)
    monkeypatch.setattr(_pa_kernel, "_kernel", None)
    monkeypatch.setattr(_pa_kernel, "LOAD_POSES", 3001)  # more than the series: not loaded
    evaluation.compute_errors(protocol, pred, gt)
    assert _pa_kernel._kernel is None
    monkeypatch.setattr(_pa_kernel, "LOAD_POSES", 3000)  # every block < LOAD_POSES, the series = LOAD_POSES
    calls = []
    real = _pa_kernel.procrustes_errors
    monkeypatch.setattr(_pa_kernel, "procrustes_errors", lambda *a: calls.append(len(a[0])) or real(*a))
    fast = evaluation.compute_errors(protocol, pred, gt)
    assert _pa_kernel._kernel is not None and calls == [1000, 1000, 1000]
    monkeypatch.setenv(_pa_kernel.ENABLE_ENV, "0")
    slow = evaluation.compute_errors(protocol, pred, gt)
    for name in slow:
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-9, atol=1e-9)

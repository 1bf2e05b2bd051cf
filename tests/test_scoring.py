"""scoring: blocks on threads give the same float64 errors; score_rows is exactly the stored run's arrays."""
from __future__ import annotations

import numpy as np
import pytest

import posebench
from posebench import scoring
from posebench.aggregates import per_row
from posebench.protocols import load_protocol
from posebench.results import load_result
from posebench.runstore import stored_errors
from test_importers import _h36m_data, _predictions


def _poses(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.normal(size=(n, 17, 3)) * 250 + [0, 0, 4000]
    return gt + rng.normal(size=gt.shape) * 40, gt.astype(np.float32)


@pytest.mark.parametrize("name", ["h36m-lifting", "mpi3dhp-corrected"])
def test_threads_change_no_bit_and_blocks_stay_within_rounding(monkeypatch, name):
    protocol = load_protocol(name)
    pred, gt = _poses(2500)
    monkeypatch.setattr(scoring, "SCORE_BLOCK_ROWS", 300)  # 9 blocks, the last one short
    one = scoring.compute_errors(protocol, pred, gt, threads=1)
    two = scoring.compute_errors(protocol, pred, gt, threads=2)
    monkeypatch.setattr(scoring, "SCORE_BLOCK_ROWS", 100_000)
    whole = scoring.compute_errors(protocol, pred, gt, threads=1)
    for m in protocol.metric_names:
        assert one[m].dtype == np.float64 and one[m].shape == (2500, len(protocol.metric(m).joints))
        assert np.array_equal(one[m], two[m])  # the blocks are fixed: threads change no bit
        np.testing.assert_allclose(one[m], whole[m], rtol=1e-12, atol=1e-12)  # SIMD lanes may round differently


@pytest.mark.parametrize("name", ["h36m-lifting", "mpi3dhp-corrected"])
def test_score_rows_is_the_stored_arrays_and_the_exact_per_row_values(monkeypatch, name):
    protocol = load_protocol(name)
    pred, gt = _poses(2000, seed=1)
    monkeypatch.setattr(scoring, "SCORE_BLOCK_ROWS", 256)
    full = scoring.compute_errors(protocol, pred, gt)
    errors, values = scoring.score_rows(protocol, pred, gt, threads=2)
    expected = stored_errors(protocol, full)
    for m in protocol.metric_names:
        assert errors[m].dtype == np.float32 and np.array_equal(errors[m], expected[m])
        assert values[m].dtype == np.float64 and np.array_equal(values[m], per_row(full[m], protocol, m))


def test_a_saved_run_has_the_unsaved_runs_summary_and_breakdowns_exactly(tmp_path):
    data = _h36m_data()
    pred = _predictions(data["joints3d"])
    index = np.arange(len(pred))
    fresh = posebench.evaluate((pred, index), "h36m-lifting", data)
    saved = posebench.evaluate((pred, index), "h36m-lifting", data, save=True, results_dir=tmp_path)
    assert fresh.meta["summary"] == saved.meta["summary"]
    assert fresh.meta["breakdowns"] == saved.meta["breakdowns"]
    m = saved.protocol.headline
    assert fresh.errors[m].dtype == np.float64 and saved.errors[m].dtype == np.float32
    again = load_result(saved.path)
    assert np.array_equal(again.errors[m], saved.errors[m])


@pytest.mark.parametrize("name", ["h36m-lifting", "mpi3dhp-corrected"])
def test_blocks_gathering_through_pred_at_equal_scoring_the_gathered_array(monkeypatch, name):
    protocol = load_protocol(name)
    pred, gt = _poses(1500, seed=3)
    extra = np.concatenate([pred, pred[:400] + 7.0])  # a file covering more rows, in another order
    at = np.random.default_rng(4).permutation(len(extra))[:1500]
    extra[at] = pred
    monkeypatch.setattr(scoring, "SCORE_BLOCK_ROWS", 256)
    for threads in (1, 2):
        want = scoring.compute_errors(protocol, pred, gt, threads=threads)
        got = scoring.compute_errors(protocol, extra, gt, threads=threads, pred_at=at)
        errors, values = scoring.score_rows(protocol, pred, gt, threads=threads)
        errors_at, values_at = scoring.score_rows(protocol, extra, gt, threads=threads, pred_at=at)
        for m in protocol.metric_names:
            assert np.array_equal(got[m], want[m])
            assert np.array_equal(errors_at[m], errors[m]) and np.array_equal(values_at[m], values[m])


def test_pred_at_must_name_one_prediction_per_row_inside_the_array():
    protocol = load_protocol("h36m-lifting")
    pred, gt = _poses(50)
    with pytest.raises(ValueError, match="names 49 predictions for 50"):
        scoring.compute_errors(protocol, pred, gt, pred_at=np.arange(49))
    with pytest.raises(ValueError, match="outside the 50 predictions"):
        scoring.score_rows(protocol, pred, gt, pred_at=np.arange(1, 51))
    with pytest.raises(ValueError, match="outside the 50 predictions"):
        scoring.score_rows(protocol, pred, gt, pred_at=np.arange(-1, 49))


@pytest.mark.parametrize("name", [p.name for p in posebench.protocols.list_protocols()])
def test_components_major_blocks_equal_the_per_pose_metrics(name):
    """One transposition per block, every alignment from it: MPJPE and the Procrustes errors are the same bits as
    metrics.joint_errors on the root-centred poses; the scale fit's sums run in another order (equal to 1e-13)."""
    protocol = posebench.protocols.load_protocol(name)
    pred, gt = _poses(700, seed=5)
    pred[:3] = pred[:3, :1]  # collapsed predictions: the fits' limits
    pred[3] = 0.0
    gt[4:6] = gt[4:6] @ np.diag([1.0, 1.0, -1.0]).astype(np.float32)  # mirrored targets
    plan = scoring._plan(protocol)
    fast = scoring._block_errors(protocol, plan, pred, gt)
    slow = scoring._block_errors_by_pose(protocol, plan, pred, gt)
    assert fast.keys() == slow.keys()
    for key in plan:
        assert fast[key].shape == slow[key].shape and fast[key].flags.c_contiguous
        if key[0] == "scale":
            np.testing.assert_allclose(fast[key], slow[key], rtol=1e-13, atol=1e-12)
        else:
            assert np.array_equal(fast[key], slow[key]), key


def test_components_major_blocks_refuse_non_finite_poses_as_joint_errors_does():
    protocol = load_protocol("h36m-lifting")
    pred, gt = _poses(64, seed=6)
    plan = scoring._plan(protocol)
    for bad in (np.nan, np.inf):
        p = pred.copy()
        p[10, 3, 1] = bad
        with pytest.raises(posebench.metrics.PoseArrayError, match="pred"):
            scoring._block_errors(protocol, plan, p, gt)
        g = gt.copy()
        g[20, 0, 2] = bad
        with pytest.raises(posebench.metrics.PoseArrayError, match="ground truth array holds 1 NaN"):
            scoring._block_errors(protocol, plan, pred, g)


def test_arriving_rows_make_blocks_wait_for_their_rows_and_a_failed_read_stops_them(monkeypatch):
    import threading

    protocol = load_protocol("h36m-lifting")
    pred, gt = _poses(1000, seed=9)
    monkeypatch.setattr(scoring, "SCORE_BLOCK_ROWS", 128)
    want = scoring.score_rows(protocol, pred, gt, threads=2)
    arriving = scoring.ArrivingRows(len(gt))
    filling = np.zeros_like(gt)

    def reader() -> None:  # the reader's array, filled and handed out 100 rows at a time
        for k in range(100, 1001, 100):
            filling[k - 100:k] = gt[k - 100:k]
            arriving.put(filling, k)

    t = threading.Thread(target=reader)
    t.start()
    got = scoring.score_rows(protocol, pred, arriving, threads=2)
    t.join()
    for m in protocol.metric_names:
        assert np.array_equal(got[0][m], want[0][m]) and np.array_equal(got[1][m], want[1][m])

    stopped = scoring.ArrivingRows(len(gt))
    stopped.put(gt, 300)  # rows 0-299 came, then the reader failed
    threading.Timer(0.05, stopped.fail).start()
    with pytest.raises(scoring.RowsAbandoned):
        scoring.score_rows(protocol, pred, stopped, threads=2)

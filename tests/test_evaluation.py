"""The evaluation path: selection, aggregation, rescaling, bad input, stored results."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import posebench
from posebench.data import PreparedData
from posebench.evaluation import DataMismatchError, select_rows
from posebench.predictions import PredictionsError
from posebench.protocols import load_protocol
from posebench.results import list_runs, load_result
from posebench.skeleton import ROOT, knee_neck_length


def _pose(rng, n):
    """Plausible-size random poses in camera space (mm): bones of a few hundred mm, 4 m away."""
    base = rng.normal(0, 300, size=(1, 17, 3))
    return base + rng.normal(0, 30, size=(n, 17, 3)) + np.array([0, 0, 4000.0])


def _h36m(n_per_action=(3, 1), seed=0):
    rng = np.random.default_rng(seed)
    actions = [f"Action{i}" for i, k in enumerate(n_per_action) for _ in range(k)]
    n = len(actions)
    return PreparedData.from_arrays(
        "h36m", "test", joints3d=_pose(rng, n), subject=np.full(n, 9), camera=np.full(n, 54138969),
        frame=np.arange(n) * 64, action=actions, sequence=actions)


def _offset_non_root(gt, mm):
    pred = gt.copy()
    pred[:, [j for j in range(17) if j != ROOT], 0] += mm[:, None]
    return pred


def test_frame_pooled_and_action_mean_differ_as_each_protocol_says():
    data = _h36m((3, 1))
    gt = data["joints3d"]
    pred = _offset_non_root(gt, np.array([10.0, 10.0, 10.0, 50.0]))
    pooled = posebench.evaluate(pred, "h36m", data).summary["mpjpe"]
    action_mean = posebench.evaluate(pred, "h36m-lifting", data).summary["mpjpe"]
    assert pooled == pytest.approx((3 * 10 + 50) / 4 * 16 / 17, abs=1e-9)
    assert action_mean == pytest.approx((10 + 50) / 2 * 16 / 17, abs=1e-9)


def test_selection_stride_subjects_and_exclusion():
    n = 300
    data = PreparedData.from_arrays(
        "h36m", "test", joints3d=np.zeros((n, 17, 3)), subject=np.repeat([1, 9, 11], 100),
        camera=np.tile(np.repeat([54138969, 55011271], 50), 3), frame=np.tile(np.arange(50) * 16, 6),
        action=np.full(n, "Directions"), sequence=np.full(n, "Directions"))
    rows = select_rows(load_protocol("h36m"), data)
    f = data["frame"][rows]
    assert (f % 64 == 0).all() and set(data["subject"][rows]) == {9, 11}
    # S9: 2 cameras x 13 frames; S11: only camera 55011271 survives the exclusion.
    assert len(rows) == 13 * 2 + 13
    lifting = select_rows(load_protocol("h36m-lifting"), data)
    assert set(data["subject"][lifting]) == {9}


def test_knee_neck_rescaling_makes_scale_irrelevant():
    rng = np.random.default_rng(1)
    n = 20
    gt = _pose(rng, n)
    data = PreparedData.from_arrays("mpi3dhp", "test", labels="corrected", joints3d=gt, joints3d_univ=gt,
                                    activity=np.ones(n, int), scene=np.full(n, "studio"), valid=np.ones(n, bool),
                                    sequence=np.full(n, "TS3"))
    a = posebench.evaluate(gt, "mpi3dhp-corrected", data).summary
    b = posebench.evaluate(gt * 1.1, "mpi3dhp-corrected", data).summary
    pd_equal = np.allclose(a.to_numpy(), b.to_numpy(), atol=1e-9)
    assert pd_equal
    # Independent: rescale the root-centred prediction to 920 mm knee-neck, score the 14 joints.
    centred = gt - gt[:, ROOT:ROOT + 1]
    scaled = centred * (920.0 / knee_neck_length(centred))[:, None, None]
    expected = np.linalg.norm(scaled - centred, axis=-1)[:, :14].mean()
    assert a["mpjpe"] == pytest.approx(expected, rel=1e-12)


def test_wrong_label_release_is_refused_with_the_right_protocol_named():
    n = 4
    gt = _pose(np.random.default_rng(2), n)
    data = PreparedData.from_arrays("mpi3dhp", "test", labels="corrected", joints3d=gt, joints3d_univ=gt,
                                    activity=np.ones(n, int), scene=np.full(n, "studio"), valid=np.ones(n, bool))
    with pytest.raises(DataMismatchError, match="corrected.*use mpi3dhp-corrected"):
        posebench.evaluate(gt, "mpi3dhp", data)
    with pytest.raises(DataMismatchError, match="dataset 'mpi3dhp'"):
        posebench.evaluate(gt, "h36m", data)


@pytest.mark.parametrize("mutate,message", [
    (lambda p, i: (p[:, :16], i), "expected \\(M, 17, 3\\)"),
    (lambda p, i: (np.where(np.arange(len(p))[:, None, None] == 1, np.nan, p), i), "NaN/inf in 1 rows"),
    (lambda p, i: (p / 1000.0, i), "looks like metres"),
    (lambda p, i: (p / 10.0, i), "looks like centimetres"),
    (lambda p, i: (p[1:], i[1:]), "1 of the 4 rows the protocol scores have no prediction"),
    (lambda p, i: (p, np.array([0, 0, 1, 2])), "predicted more than once"),
    (lambda p, i: (p, i + 10), "outside the prepared file"),
])
def test_bad_predictions_get_one_line_errors(mutate, message):
    data = _h36m((4,))
    pred, idx = mutate(data["joints3d"].copy(), np.arange(4))
    with pytest.raises(PredictionsError, match=message) as err:
        posebench.evaluate(pred, "h36m", data, index=idx)
    assert "\n" not in str(err.value)


def test_runs_store_and_reload_and_never_clobber(tmp_path):
    data = _h36m((3, 2))
    pred = _offset_non_root(data["joints3d"], np.linspace(5, 25, 5))
    results = []

    def run():
        results.append(posebench.evaluate(pred, "h36m", data, save=True, results_dir=tmp_path))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = list_runs(tmp_path)
    assert len(runs) == 4 and len({r.run_id for r in runs}) == 4
    assert not list((tmp_path / "runs").glob("*.tmp"))
    again = load_result(results[0].path)
    # Stored errors are exact; sums may differ in the last bit with memory alignment (SIMD pairwise sums).
    np.testing.assert_allclose(again.summary.to_numpy(), results[0].summary.to_numpy(), rtol=1e-13)
    assert list(again.summary.index) == list(results[0].summary.index)
    # Errors are stored as float32 (format 2): equal to the computed float64 ones to float32 rounding.
    assert again.errors["mpjpe"].dtype == np.float32
    np.testing.assert_allclose(again.errors["mpjpe"], results[0].errors["mpjpe"], rtol=2 ** -24, atol=0)
    assert not again.problems
    assert again.meta["protocol"]["name"] == "h36m" and again.meta["data"]["content_hash"]
    assert again.table("action").loc["All", "mpjpe"] == pytest.approx(again.summary["mpjpe"])


def test_errors_come_in_order_data_predictions_scored_column(tmp_path):
    """The scored column is read beside the predictions; with several faults the data's is named first, then
    the predictions', then the scored column's."""
    import h5py

    from posebench.data import ContentHashError, PreparedFileError, write_prepared
    from posebench.predictions import write_predictions

    data = _h36m((40, 20))
    path = tmp_path / "data" / "h36m" / "test.h5"
    path.parent.mkdir(parents=True)
    write_prepared(path, dict(data.columns), {"dataset": "h36m", "split": "test"})
    rows = select_rows(load_protocol("h36m"), data)
    good, metres = tmp_path / "good.h5", tmp_path / "metres.h5"
    joints = np.asarray(data["joints3d"])[rows]
    write_predictions(good, joints + 10.0, rows)
    write_predictions(metres, joints / 1000.0, rows)
    assert posebench.evaluate(good, "h36m", tmp_path / "data").meta["rows_scored"] == len(rows)
    with h5py.File(path, "r+") as f:
        f["joints3d"][0] += 40.0  # the scored column no longer matches its hash
    with pytest.raises(PredictionsError, match="metres"):
        posebench.evaluate(metres, "h36m", tmp_path / "data")
    with pytest.raises(ContentHashError, match="'joints3d'"):
        posebench.evaluate(good, "h36m", tmp_path / "data")
    with pytest.raises(ContentHashError, match="'joints3d'"):  # scored while read, but never kept or stored
        posebench.evaluate(good, "h36m", tmp_path / "data", save=True, results_dir=tmp_path / "res")
    assert not list(tmp_path.glob("res/runs/*"))
    with pytest.raises(PreparedFileError, match="no prepared file"):
        posebench.evaluate(metres, "h36m", tmp_path / "elsewhere")


def test_a_run_records_its_predictions_files_sha256(tmp_path):
    """The file's hash is computed on its own thread once the file is read; the result and the stored JSON carry it."""
    import json

    from posebench.data import write_prepared
    from posebench.io_utils import file_sha256
    from posebench.predictions import write_predictions

    data = _h36m((40, 20))
    path = tmp_path / "data" / "h36m" / "test.h5"
    path.parent.mkdir(parents=True)
    write_prepared(path, dict(data.columns), {"dataset": "h36m", "split": "test"})
    rows = select_rows(load_protocol("h36m"), data)
    preds = tmp_path / "preds.h5"
    write_predictions(preds, np.asarray(data["joints3d"])[rows] + 10.0, rows)
    for save in (False, True):
        result = posebench.evaluate(preds, "h36m", tmp_path / "data", save=save, results_dir=tmp_path / "res")
        assert result.meta["predictions"]["sha256"] == file_sha256(preds)
    stored = json.loads(result.path.read_text())
    assert stored["predictions"] == {"path": str(preds), "sha256": file_sha256(preds)}


def test_prepared_rows_is_the_shortest_columns_length(tmp_path):
    """The bound an early-read predictions file is held to: a crafted huge column cannot raise it."""
    import h5py

    from posebench.data import PreparedFileError, prepared_rows

    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("aaa", shape=(2**36,), dtype="f8", chunks=(1024,))  # 512 GiB if read; nothing is
        f.create_dataset("joints3d", data=np.zeros((48, 17, 3)))
    assert prepared_rows(path) == 48
    with h5py.File(path, "a") as f:
        f["zzz"] = 1.0
    with pytest.raises(PreparedFileError, match="'zzz' is a scalar"):
        prepared_rows(path)

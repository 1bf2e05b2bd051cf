"""The predictions file: round trip, units, finiteness, index checks; every refusal is one PredictionsError."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from posebench.errors import PosebenchError
from posebench.predictions import (PredictionsError, check_millimetres, check_predictions, match_index,
                                   read_predictions, write_predictions)


@pytest.fixture()
def poses() -> np.ndarray:
    """Eight random 17-joint poses in mm (median bone length a few hundred mm)."""
    return np.random.default_rng(0).normal(0.0, 150.0, size=(8, 17, 3))


def test_write_then_read_round_trip_with_extra_columns(tmp_path, poses):
    path = tmp_path / "p.h5"
    index = np.arange(10, 18)
    write_predictions(path, poses.astype(np.float32), index, image=np.array([f"im{i}.jpg" for i in index]))
    joints, idx = read_predictions(path)
    assert joints.dtype == np.float64 and idx.dtype == np.int64
    np.testing.assert_allclose(joints, poses.astype(np.float32))
    np.testing.assert_array_equal(idx, index)
    with h5py.File(path, "r") as f:
        assert f["image"].asstr()[()].tolist() == [f"im{i}.jpg" for i in index]


def test_npz_files_read_like_hdf5(tmp_path, poses):
    path = tmp_path / "p.npz"
    np.savez(path, joints3d=poses, index=np.arange(8))
    joints, idx = read_predictions(path)
    np.testing.assert_array_equal(joints, poses)
    np.testing.assert_array_equal(idx, np.arange(8))


def test_missing_file_and_missing_dataset_are_named(tmp_path, poses):
    with pytest.raises(PredictionsError, match="no such predictions file"):
        read_predictions(tmp_path / "absent.h5")
    path = tmp_path / "p.npz"
    np.savez(path, joints3d=poses)
    with pytest.raises(PredictionsError, match=r"missing array 'index' \(has: joints3d\)"):
        read_predictions(path)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(PredictionsError, match="not a readable HDF5"):
        read_predictions(tmp_path / "junk.h5")


def test_metres_and_centimetres_are_named_with_the_factor(poses):
    with pytest.raises(PredictionsError, match="looks like metres in every row.*multiply them by 1000"):
        check_predictions(poses / 1000.0, np.arange(8))
    with pytest.raises(PredictionsError, match="looks like centimetres in every row.*multiply them by 10"):
        check_predictions(poses / 10.0, np.arange(8))
    check_millimetres(poses)  # millimetres pass
    joints, _ = check_predictions(poses / 1000.0, np.arange(8), check_units=False)  # the caller may opt out
    np.testing.assert_allclose(joints, poses / 1000.0)


def test_non_finite_rows_shapes_and_index_types(poses):
    bad = poses.copy()
    bad[3, 5, 1] = np.nan
    with pytest.raises(PredictionsError, match=r"NaN/inf in 1 rows \(first at position 3, index 13\)"):
        check_predictions(bad, np.arange(10, 18))
    with pytest.raises(PredictionsError, match=r"expected \(M, 17, 3\)"):
        check_predictions(poses[:, :16], np.arange(8))
    with pytest.raises(PredictionsError, match="to match joints3d"):
        check_predictions(poses, np.arange(7))
    _, idx = check_predictions(poses, np.arange(8, dtype=np.float64))  # whole floats are taken as rows
    assert idx.dtype == np.int64
    with pytest.raises(PredictionsError, match="index must hold integers"):
        check_predictions(poses, np.arange(8) + 0.5)


def test_match_index_positions_and_its_three_refusals():
    index = np.array([5, 2, 9, 0])
    np.testing.assert_array_equal(match_index(index, np.array([0, 2, 5]), 10), [3, 1, 0])
    with pytest.raises(PredictionsError, match="outside the prepared file's 0..9"):
        match_index(np.array([1, 10]), np.array([1]), 10)
    with pytest.raises(PredictionsError, match="predicted more than once"):
        match_index(np.array([1, 1]), np.array([1]), 10)
    with pytest.raises(PredictionsError, match=r"1 of the 2 rows .* no prediction \(first: 7\).*--template"):
        match_index(index, np.array([0, 7]), 10)


def test_predictions_error_is_a_posebench_error():
    assert issubclass(PredictionsError, PosebenchError) and issubclass(PredictionsError, ValueError)


def _pose_with_bones(lengths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A (17, 3) pose whose bones (skeleton.BONES order) have the given lengths, in random directions."""
    from posebench.skeleton import BONES, ROOT
    pose = np.full((17, 3), np.nan)
    pose[ROOT] = 0.0
    while np.isnan(pose).any():
        for (p, c), length in zip(BONES, lengths):
            if not np.isnan(pose[p, 0]) and np.isnan(pose[c, 0]):
                u = rng.normal(size=3)
                pose[c] = pose[p] + length * u / np.linalg.norm(u)
    return pose


def _exact_bad_rows(j: np.ndarray) -> np.ndarray:
    """Rows the units check must name: exact per-row median bone length > 0 and outside 60-1500 mm."""
    from posebench.skeleton import BONES
    p, c = np.array(BONES).T
    med = np.median(np.linalg.norm(j[:, c] - j[:, p], axis=2), axis=1)
    return np.flatnonzero((med > 0) & ((med < 60.0) | (med > 1500.0)))


def test_units_check_settles_rows_by_count_yet_names_exactly_the_rows_exact_medians_name():
    """Rows with 0..16 of their 16 bones in range, the others just below 60 mm or just above 1500 mm (or in
    metres): the rows named, their count and the first positions are those of the exact per-row medians."""
    rng = np.random.default_rng(7)
    inside = [60.0001, 61.0, 300.0, 1499.0, 1499.9999]
    below, above = [0.3, 0.5, 59.9999, 59.0], [1500.0001, 1600.0, 1e4]
    rows = []
    for _ in range(900):
        c = rng.integers(0, 17)
        lengths = np.concatenate([rng.choice(inside, c), rng.choice(below if rng.random() < 0.5 else above, 16 - c)])
        rows.append(_pose_with_bones(rng.permutation(lengths), rng))
    j = np.stack(rows) + rng.normal(size=3) * 1000
    bad = _exact_bad_rows(j)
    assert 100 < len(bad) < 800  # both kinds of rows are there
    with pytest.raises(PredictionsError) as err:
        check_millimetres(j)
    assert f"{len(bad)} of 900 rows" in str(err.value)
    assert f"first at positions {', '.join(map(str, bad[:5]))}" in str(err.value)
    good = np.delete(j, bad, axis=0)
    assert len(_exact_bad_rows(good)) == 0
    check_millimetres(good)  # rows with 8 bones or fewer in range but an in-range median pass


def test_units_check_zero_rule_is_the_median_over_all_rows():
    rng = np.random.default_rng(8)
    j = rng.normal(0.0, 150.0, size=(9, 17, 3))
    j[:5] = 1.0  # five of nine rows are one point: the median row has zero-length bones
    with pytest.raises(PredictionsError, match="every bone has zero length"):
        check_millimetres(j)
    check_millimetres(j[1:])  # four of eight: the median is half a human-sized row, the placeholders pass

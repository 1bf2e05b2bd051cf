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
    with pytest.raises(PredictionsError, match=r"missing dataset 'index' \(has: joints3d\)"):
        read_predictions(path)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(PredictionsError, match="not a readable HDF5"):
        read_predictions(tmp_path / "junk.h5")


def test_metres_and_centimetres_are_named_with_the_factor(poses):
    with pytest.raises(PredictionsError, match="looks like metres.*multiply by 1000"):
        check_predictions(poses / 1000.0, np.arange(8))
    with pytest.raises(PredictionsError, match="looks like centimetres.*multiply by 10"):
        check_predictions(poses / 10.0, np.arange(8))
    assert 60.0 < check_millimetres(poses) < 1500.0
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

"""The safe HDF5 reading path: plain datasets inside the file only; shapes checked before reading."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from posebench.h5safe import UnsafeFileError, check_shape, is_hdf5, open_h5, plain_dataset, read_dataset


@pytest.fixture
def secret(tmp_path):
    p = tmp_path / "answer-key.h5"
    with h5py.File(p, "w") as f:
        f["joints3d"] = np.arange(5 * 17 * 3, dtype=np.float32).reshape(5, 17, 3)
    return p


def _read(path, name):
    with open_h5(path) as f:
        return read_dataset(plain_dataset(f, name))


def test_plain_dataset_reads_back(secret):
    assert _read(secret, "joints3d").shape == (5, 17, 3)


def test_external_link_is_refused_and_names_the_target(tmp_path, secret):
    p = tmp_path / "sub.h5"
    with h5py.File(p, "w") as f:
        f["joints3d"] = h5py.ExternalLink(str(secret), "/joints3d")
    with pytest.raises(UnsafeFileError, match=r"sub\.h5: dataset 'joints3d' is an external link to .*answer-key\.h5"):
        _read(p, "joints3d")


def test_soft_link_is_refused(tmp_path):
    p = tmp_path / "soft.h5"
    with h5py.File(p, "w") as f:
        f["real"] = np.zeros(3)
        f["joints3d"] = h5py.SoftLink("/real")
    with pytest.raises(UnsafeFileError, match="soft link to /real"):
        _read(p, "joints3d")


def test_virtual_dataset_is_refused(tmp_path, secret):
    p = tmp_path / "vds.h5"
    layout = h5py.VirtualLayout(shape=(5, 17, 3), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(secret), "joints3d", shape=(5, 17, 3))
    with h5py.File(p, "w") as f:
        f.create_virtual_dataset("joints3d", layout)
    with pytest.raises(UnsafeFileError, match="virtual dataset"):
        _read(p, "joints3d")


def test_external_storage_is_refused_before_any_byte_is_read(tmp_path):
    system = tmp_path / "passwd"
    system.write_bytes(b"root:x:0:0:SECRET-BYTES\n" * 8)
    p = tmp_path / "ext.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("index", shape=(24,), dtype=np.int64, external=[(str(system), 0, h5py.h5f.UNLIMITED)])
    with pytest.raises(UnsafeFileError, match="external storage") as e:
        _read(p, "index")
    assert "SECRET" not in str(e.value)


def test_group_where_a_dataset_should_be(tmp_path):
    p = tmp_path / "g.h5"
    with h5py.File(p, "w") as f:
        f.create_group("joints3d")
    with pytest.raises(UnsafeFileError, match="is a group, not a dataset"):
        _read(p, "joints3d")


def test_shape_checked_from_metadata_without_reading(tmp_path):
    p = tmp_path / "huge.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("joints3d", shape=(2**40, 17, 3), dtype=np.float64, chunks=(1, 17, 3))  # never allocated
    with open_h5(p) as f:
        ds = plain_dataset(f, "joints3d")
        assert check_shape(ds, trailing=(17, 3), kinds="f") == (2**40, 17, 3)
        with pytest.raises(UnsafeFileError, match="more than the 10 expected"):
            check_shape(ds, max_rows=10)
        with pytest.raises(UnsafeFileError, match=r"shape \(1099511627776, 17, 3\), expected \(N, 16, 3\)"):
            check_shape(ds, trailing=(16, 3))
        with pytest.raises(UnsafeFileError, match="expected integers"):
            check_shape(ds, kinds="iu")


def test_rows_read_in_any_order_with_repeats(secret):
    with open_h5(secret) as f:
        ds = plain_dataset(f, "joints3d")
        rows = np.array([4, 0, 4, 2])
        np.testing.assert_array_equal(read_dataset(ds, rows), ds[()][rows])
        with pytest.raises(UnsafeFileError, match="rows outside"):
            read_dataset(ds, np.array([5]))


def test_not_hdf5_and_missing(tmp_path):
    junk = tmp_path / "x.h5"
    junk.write_bytes(b"PK\x03\x04 not hdf5 at all")
    assert not is_hdf5(junk)
    with pytest.raises(UnsafeFileError, match="not a readable HDF5"):
        with open_h5(junk):
            pass
    with pytest.raises(UnsafeFileError, match="no such"):
        with open_h5(tmp_path / "nope.h5"):
            pass
    with pytest.raises(UnsafeFileError, match="not a regular file"):
        with open_h5(tmp_path):
            pass


def test_predictions_reading_the_answer_key_are_refused(tmp_path, secret):
    from posebench.predictions import PredictionsError, read_predictions

    p = tmp_path / "preds.h5"
    with h5py.File(p, "w") as f:
        f["joints3d"] = h5py.ExternalLink(str(secret), "/joints3d")
        f["index"] = np.arange(5)
        f.create_dataset("unused", shape=(2**40,), dtype=np.float64, chunks=(1024,))
    with pytest.raises(PredictionsError, match="external link"):
        read_predictions(p)

"""The prepared-file contract: validation, atomic reproducible writes, content hashes."""
from __future__ import annotations

import numpy as np
import pytest

from posebench.data import PreparedData, PreparedFileError, read_prepared, write_prepared


def _cols(n=6):
    rng = np.random.default_rng(0)
    return dict(joints3d=rng.normal(size=(n, 17, 3)) * 300, joints2d=rng.normal(size=(n, 17, 2)),
                intrinsics=np.ones((n, 4)), subject=np.full(n, 9), camera=np.zeros(n, int), frame=np.arange(n),
                action=["Walking"] * n, sequence=["Walking 1"] * n, image=[f"images/{i}.jpg" for i in range(n)])


def test_round_trip_and_content_hash_is_not_file_bytes(tmp_path):
    h1 = write_prepared(tmp_path / "a.h5", _cols(), {"dataset": "h36m", "split": "test"})
    h2 = write_prepared(tmp_path / "b.h5", _cols(), {"dataset": "h36m", "split": "test", "sources": {"x": 1}})
    assert h1 == h2  # provenance attrs aside, same content -> same hash
    assert (tmp_path / "a.h5").read_bytes() == read_bytes_again(tmp_path, _cols())
    d = read_prepared(tmp_path / "a.h5")
    assert d.content_hash == h1 and d.dataset == "h36m" and len(d) == 6
    assert d["joints3d"].dtype == np.float32 and list(d["action"]) == ["Walking"] * 6
    changed = _cols()
    changed["joints3d"][0, 0, 0] += 1
    assert write_prepared(tmp_path / "c.h5", changed, {"dataset": "h36m", "split": "test"}) != h1


def read_bytes_again(tmp_path, cols):
    write_prepared(tmp_path / "again.h5", cols, {"dataset": "h36m", "split": "test"})
    return (tmp_path / "again.h5").read_bytes()


@pytest.mark.parametrize("change,message", [
    (lambda c: c.pop("joints3d"), "missing required columns: joints3d"),
    (lambda c: c.update(joints3d=np.zeros((6, 16, 3))), "shape"),
    (lambda c: c.update(frame=np.zeros(5, int)), "5 rows"),
    (lambda c: c.update(image=["../../etc/passwd"] * 6), "leave the data folder"),
    (lambda c: c.update(image=["/abs/x.jpg"] * 6), "leave the data folder"),
    (lambda c: c["joints3d"].__setitem__((0, 0, 0), np.nan), "non-finite"),
])
def test_bad_columns_are_refused_and_nothing_is_written(tmp_path, change, message):
    cols = _cols()
    change(cols)
    with pytest.raises(PreparedFileError, match=message):
        write_prepared(tmp_path / "x.h5", cols, {"dataset": "h36m", "split": "test"})
    assert list(tmp_path.iterdir()) == []


def test_mpi_test_files_need_their_columns():
    with pytest.raises(PreparedFileError, match="joints3d_univ"):
        PreparedData.from_arrays("mpi3dhp", "test", joints3d=np.zeros((2, 17, 3)))


def test_not_hdf5_is_a_clear_error(tmp_path):
    p = tmp_path / "junk.h5"
    p.write_bytes(b"not hdf5")
    with pytest.raises(PreparedFileError, match="not a readable HDF5"):
        read_prepared(p)


@pytest.mark.parametrize("verify", [True, False])
def test_a_streamed_column_hands_out_its_leading_rows_as_they_are_read(tmp_path, monkeypatch, verify):
    monkeypatch.setattr("posebench.prepared_read.READ_BLOCK_ROWS", 4)
    cols = _cols(30)
    write_prepared(tmp_path / "a.h5", cols, {"dataset": "h36m", "split": "test"})
    rows = np.array([1, 2, 3, 7, 8, 20, 21, 29])
    calls = []
    got = read_prepared(tmp_path / "a.h5", columns=["joints3d"], rows=rows, verify=verify,
                        stream=lambda a, k: calls.append((a, k, a[:k].copy())))["joints3d"]
    ks = [k for _, k, _ in calls]
    assert ks == sorted(ks) and ks[-1] == len(rows) and (len(ks) > 1) == verify  # block by block when hashed
    assert all(a is calls[-1][0] for a, _, _ in calls) and calls[-1][0] is got  # one array, the one returned
    for _, k, head in calls:
        assert np.array_equal(head, got[:k])  # rows handed out are never changed afterwards
    np.testing.assert_array_equal(got, cols["joints3d"].astype(np.float32)[rows])


def test_rows_out_of_order_are_streamed_once_when_complete(tmp_path, monkeypatch):
    monkeypatch.setattr("posebench.prepared_read.READ_BLOCK_ROWS", 4)
    cols = _cols(30)
    write_prepared(tmp_path / "a.h5", cols, {"dataset": "h36m", "split": "test"})
    rows = np.array([9, 2, 25, 2])
    calls = []
    got = read_prepared(tmp_path / "a.h5", columns=["joints3d"], rows=rows,
                        stream=lambda a, k: calls.append((a, k)))["joints3d"]
    assert len(calls) == 1 and calls[0][0] is got and calls[0][1] == 4
    np.testing.assert_array_equal(got, cols["joints3d"].astype(np.float32)[rows])

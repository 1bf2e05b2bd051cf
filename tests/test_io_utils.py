"""io_utils: the in-memory file HDF5 is built in, and atomic_h5's bytes, user block and hash."""
from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from posebench.io_utils import MemoryFile, atomic_h5


def test_memory_file_behaves_as_a_sparse_binary_file():
    m = MemoryFile(size_hint=4)  # grows past its hint
    assert m.write(b"abc") == 3 and m.tell() == 3
    m.seek(10)
    m.write(memoryview(np.arange(3, dtype=np.uint16)))  # any buffer; the gap reads as zeros
    assert bytes(m.view()) == b"abc" + b"\x00" * 7 + np.arange(3, dtype=np.uint16).tobytes()
    m.seek(1)
    buf = bytearray(5)
    assert m.readinto(buf) == 5 and bytes(buf) == b"bc\x00\x00\x00"
    assert m.seek(-2, 2) == 14 and m.seek(1, 1) == 15
    m.truncate(20)
    assert len(m.view()) == 20 and bytes(m.view())[16:] == b"\x00" * 4
    m.truncate(2)
    assert bytes(m.view()) == b"ab"
    m.seek(0, 2)
    big = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8)
    m.write(big)  # past the initial buffer: grown, contents kept
    assert bytes(m.view()[:2]) == b"ab" and np.array_equal(np.frombuffer(m.view(), np.uint8)[2:], big)
    with pytest.raises(ValueError):
        m.seek(-1)


def test_atomic_h5_writes_the_file_it_built_its_hash_and_user_block(tmp_path):
    data = np.random.default_rng(1).normal(size=(50_000, 17)).astype(np.float32)
    digest = hashlib.sha256()
    path = tmp_path / "e.h5"
    with atomic_h5(path, hasher=digest, size_hint=1 << 10) as f:
        assert str(tmp_path) in f.filename and f.filename.endswith(".tmp")  # named after its temp file
        f.create_dataset("errors", data=data, chunks=(16384, 17))
        f.create_dataset("index", data=np.arange(50_000), compression="gzip", shuffle=True)
    assert digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["errors"][()], data) and np.array_equal(f["index"][()], np.arange(50_000))
    assert [p.name for p in tmp_path.iterdir()] == ["e.h5"]  # no temp left

    mat = tmp_path / "m.mat"
    with atomic_h5(mat, userblock=b"MATLAB 7.3 MAT-file", userblock_size=512) as f:
        f.create_dataset("x", data=np.ones(3))
    raw = mat.read_bytes()
    assert raw[:19] == b"MATLAB 7.3 MAT-file" and raw[19:512] == b"\x00" * 493
    with h5py.File(mat, "r") as f:
        assert f.userblock_size == 512 and np.array_equal(f["x"][()], np.ones(3))


def test_a_failure_inside_the_block_writes_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_h5(tmp_path / "x.h5") as f:
            f.create_dataset("a", data=np.ones(10))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []

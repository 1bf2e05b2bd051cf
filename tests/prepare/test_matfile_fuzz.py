"""Fuzzed .mat inputs: truncated files, missing variables, wrong dimensions, junk bytes.

Every reader must either raise its one-line error (a ValueError subclass naming the file) or return exactly
what the undamaged file holds; never a traceback from inside h5py/SciPy, never a silently wrong value.
"""
from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import h5py
import numpy as np
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st

from posebench.prepare.matfile import MatFileError, mat_version
from posebench.prepare.mpi3dhp import read_test_annotations
from posebench.prepare.mpi3dhp_train import read_train_annotations
from posebench.prepare.mpii import read_annotations

FUZZ = settings(max_examples=25, deadline=None)
N = 6
TEST_VARS = {"annot2": (N, 1, 17, 2), "annot3": (N, 1, 17, 3), "univ_annot3": (N, 1, 17, 3),
             "valid_frame": (N, 1), "activity_annotation": (N, 1)}


def _v73_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "a.mat"
        with h5py.File(p, "w", userblock_size=512) as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v)
        head = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM"
        data = bytearray(p.read_bytes())
        data[:128] = head
        return bytes(data)


def _test_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {k: rng.normal(0, 100, s) for k, s in TEST_VARS.items()}
    out["annot3"][..., 2] += 4000
    out["valid_frame"] = (rng.random((N, 1)) < 0.5).astype(float)
    out["activity_annotation"] = rng.integers(1, 8, (N, 1)).astype(float)
    return out


@functools.lru_cache
def _test_mat_bytes() -> bytes:
    return _v73_bytes(_test_arrays())


def _cells(rng: np.random.Generator, cameras: int, cols: int) -> np.ndarray:
    """A cameras x 1 MATLAB cell array of (N, cols) doubles, as annot.mat holds."""
    c = np.empty((cameras, 1), dtype=object)
    for i in range(cameras):
        c[i, 0] = rng.normal(0, 100, (N, cols))
    return c


def _train_cells(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: _cells(rng, 14, 28 * k) for name, k in (("annot2", 2), ("annot3", 3), ("univ_annot3", 3))}


@functools.lru_cache
def _train_mat_bytes() -> bytes:
    cells = _train_cells(np.random.default_rng(1))
    buf = io.BytesIO()
    scipy.io.savemat(buf, cells | {"cameras": np.arange(14)[None], "frames": np.arange(N)[:, None]})
    return buf.getvalue()


@functools.lru_cache
def _mpii_mat_bytes() -> bytes:
    pts = np.zeros((1, 3), dtype=[("id", object), ("x", object), ("y", object), ("is_visible", object)])
    for j in range(3):
        pts[0, j] = (np.array([[j]]), np.array([[10.0 * j + 1]]), np.array([[5.0 * j + 1]]), np.array([[1]]))
    rect = np.zeros((1, 1), dtype=[(f, object) for f in ("x1", "y1", "x2", "y2", "scale", "objpos", "annopoints")])
    rect[0, 0] = (np.array([[1]]), np.array([[2]]), np.array([[3]]), np.array([[4]]), np.array([[2.5]]),
                  {"x": np.array([[40]]), "y": np.array([[50]])}, {"point": pts})
    ann = np.zeros((1, 2), dtype=[("image", object), ("annorect", object)])
    ann[0, 0] = ({"name": "000000001.jpg"}, rect)
    ann[0, 1] = ({"name": "000000002.jpg"}, rect)
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"RELEASE": {"annolist": ann, "img_train": np.array([[1, 1]])}})
    return buf.getvalue()


def _check(reader, data: bytes, expected, compare) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.mat"
        p.write_bytes(data)
        try:
            got = reader(p)
        except MatFileError as e:
            assert str(p) in str(e) and "\n" not in str(e)
            return
    compare(got, expected)


def _same_test(got, exp) -> None:
    for k in ("annot2", "annot3", "univ_annot3", "valid", "activity"):
        np.testing.assert_array_equal(getattr(got, k), getattr(exp, k))


def _same_dict(got, exp) -> None:
    for k, v in exp.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(got[k], v)
        else:
            assert got[k] == v


def _read_bytes(reader, data: bytes):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.mat"
        p.write_bytes(data)
        return reader(p)


@FUZZ
@given(cut=st.integers(0, 20000))
def test_truncated_test_annotations(cut):
    full = _test_mat_bytes()
    _check(read_test_annotations, full[:cut % len(full)], _read_bytes(read_test_annotations, full), _same_test)


@FUZZ
@given(cut=st.integers(0, 200000))
def test_truncated_train_annotations(cut):
    full = _train_mat_bytes()
    _check(read_train_annotations, full[:cut % len(full)], _read_bytes(read_train_annotations, full), _same_dict)


@FUZZ
@given(cut=st.integers(0, 5000))
def test_truncated_mpii(cut):
    full = _mpii_mat_bytes()
    exp = _read_bytes(read_annotations, full)
    _check(read_annotations, full[:cut % len(full)], exp, _same_dict)


@FUZZ
@given(drop=st.sampled_from(sorted(TEST_VARS)), reshape=st.sampled_from(sorted(TEST_VARS)),
       dims=st.lists(st.integers(1, 20), min_size=1, max_size=4))
def test_missing_and_misshapen_test_variables(drop, reshape, dims):
    arrays = _test_arrays()
    missing = {k: v for k, v in arrays.items() if k != drop}
    _check(read_test_annotations, _v73_bytes(missing), None, _never)
    if tuple(dims) == TEST_VARS[reshape] or (reshape in ("valid_frame", "activity_annotation") and np.prod(dims) == N
                                              and sorted(dims, reverse=True)[0] == N):
        return  # not actually a wrong shape
    bad = arrays | {reshape: np.ones(dims)}
    _check(read_test_annotations, _v73_bytes(bad), None, _never)


@FUZZ
@given(name=st.sampled_from(["annot2", "annot3", "univ_annot3"]), cams=st.integers(1, 20), cols=st.integers(1, 90))
def test_misshapen_train_cells(name, cams, cols):
    k = 2 if name == "annot2" else 3
    if cams == 14 and cols == 28 * k:
        return
    rng = np.random.default_rng(2)
    arrays = _train_cells(rng) | {name: _cells(rng, cams, cols)}
    buf = io.BytesIO()
    scipy.io.savemat(buf, arrays)
    _check(read_train_annotations, buf.getvalue(), None, _never)


@FUZZ
@given(junk=st.binary(min_size=0, max_size=600))
def test_junk_bytes(junk):
    for reader in (read_test_annotations, read_train_annotations, read_annotations):
        _check(reader, junk, None, _never)


def _never(got, exp) -> None:
    raise AssertionError(f"a damaged file was accepted: {type(got).__name__}")


def test_versions_named(tmp_path):
    p = tmp_path / "v5.mat"
    p.write_bytes(_train_mat_bytes())
    assert mat_version(p) == "5"
    p.write_bytes(_test_mat_bytes())
    assert mat_version(p) == "7.3"
    try:
        read_train_annotations(p)
    except MatFileError as e:
        assert "MAT v7.3" in str(e) and "expected a training-set MAT v5 annot.mat" in str(e)
    else:
        raise AssertionError("v7.3 accepted as annot.mat")

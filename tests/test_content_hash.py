"""Prepared files carry per-column hashes that readers check: tampering is refused, naming file and column."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from posebench.cli import main
from posebench.columns import factorize, unsafe_paths
from posebench.content_hash import ColumnHasher, column_digest, combine
from posebench.data import (ContentHashError, PreparedData, PreparedFileError, _hashable_attrs, read_attrs,
                            read_prepared, validate_columns, verify_prepared, write_prepared)
from posebench.io_utils import arrays_hash


def _columns(n: int = 300, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    seqs = np.array(["Directions 1", "Walking", "Eating 2"], dtype=object)
    return {"joints3d": rng.normal(0, 300, (n, 17, 3)).astype(np.float32),
            "joints2d": rng.normal(0, 300, (n, 17, 2)).astype(np.float32),
            "intrinsics": np.ones((n, 4), np.float32), "subject": np.repeat([9, 11], n // 2),
            "camera": np.tile([1, 2, 3], n // 3), "frame": np.arange(n), "action": seqs[np.arange(n) // 100],
            "sequence": seqs[np.arange(n) // 100], "image": np.array([f"images/{i:06d}.jpg" for i in range(n)], dtype=object)}


@pytest.fixture()
def prepared(tmp_path):
    path = tmp_path / "test.h5"
    h = write_prepared(path, _columns(), {"dataset": "h36m", "split": "test"})
    return path, h


def test_v2_hash_is_the_v1_hash_of_the_same_arrays_and_lists_each_column(prepared):
    path, h = prepared
    attrs = read_attrs(path)
    assert attrs["format_version"] == 2 and attrs["content_hash"] == h
    cols = _columns()
    cols = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in cols.items()}
    assert arrays_hash(cols, _hashable_attrs(attrs)) == h  # the format-1 formula over the same arrays
    assert sorted(attrs["column_hashes"]) == sorted(cols)
    assert combine(attrs["column_hashes"], _hashable_attrs(attrs)) == h


def test_streamed_digest_does_not_depend_on_block_sizes():
    a = np.array(["x", "y", "y", "é", "\"q\""] * 40, dtype=object)
    whole = column_digest("s", a)["sha256"]
    h = ColumnHasher("s", "str", a.shape)
    for lo in (0, 7, 8, 150):
        h.update(a[lo:{0: 7, 7: 8, 8: 150, 150: 200}[lo]])
    assert h.hexdigest() == whole


def test_string_digest_is_the_json_text_whether_in_runs_or_not():
    """Columns of runs are hashed run by run; the digest is still SHA-256 of json.dumps(list) for any blocks."""
    import hashlib

    rng = np.random.default_rng(5)
    values = np.array(["a", "S9/Walking 1.54138969", 'q"uote', "\u00e9", "", "x\\y"], dtype=object)
    for trial in range(100):
        n = int(rng.integers(1, 60))
        runs = trial % 3 != 0
        a = values[np.repeat(rng.integers(0, len(values), n), rng.integers(1, 30, n))] if runs else \
            values[rng.integers(0, len(values), n)]
        if trial % 4 == 1:
            a = np.array([x.encode() for x in a])  # fixed-width UTF-8, as stored
        blocks = np.split(a, sorted(rng.integers(0, len(a), 3).tolist()))
        h = ColumnHasher("c", "str", a.shape)
        for b in blocks:
            h.update(b)
        text = json.dumps([x.decode() if isinstance(x, bytes) else x for x in a.tolist()])
        assert h.hexdigest() == hashlib.sha256(text.encode()).hexdigest(), trial


def test_subset_read_matches_full_read_and_is_verified(prepared):
    path, _ = prepared
    full = read_prepared(path)
    rows = np.array([299, 5, 5, 120])
    part = read_prepared(path, columns=["joints3d", "sequence"], rows=rows)
    assert part.verified and list(part.columns) == ["joints3d", "sequence"]
    np.testing.assert_array_equal(part["joints3d"], full["joints3d"][rows])
    assert part["sequence"].tolist() == full["sequence"][rows].tolist()
    assert full["sequence"].dtype == object and full["sequence"][0] == "Directions 1"


def test_tampered_column_is_refused_naming_file_and_column(prepared):
    path, h = prepared
    with h5py.File(path, "r+") as f:
        f["joints3d"][7] += 40.0  # attributes kept, as a careless edit would
    with pytest.raises(ContentHashError, match=rf"{path.name}: column 'joints3d' does not match its content hash"):
        read_prepared(path, columns=["joints3d"])
    read_prepared(path, columns=["subject"])  # the untouched columns still verify
    with pytest.raises(ContentHashError, match="'joints3d'"):
        verify_prepared(path)


def test_edited_hash_attributes_are_refused(prepared):
    path, _ = prepared
    with h5py.File(path, "r+") as f:
        hashes = json.loads(f.attrs["column_hashes"])
        hashes["joints3d"]["sha256"] = "0" * 64
        f.attrs["column_hashes"] = json.dumps(hashes)
    with pytest.raises(ContentHashError, match="do not add up to its content_hash"):
        read_prepared(path, columns=["subject"])


def test_added_column_is_refused(prepared):
    path, _ = prepared
    with h5py.File(path, "r+") as f:
        f.create_dataset("valid", data=np.ones(300, bool))
    with pytest.raises(ContentHashError, match="'valid' is not covered"):
        read_prepared(path, columns=["subject"])


def _write_v1(path, cols, attrs):
    """A file as format 1 wrote it: variable-length strings, automatic chunks, only the whole-file hash."""
    attrs = {**attrs, "kind": "3d", "skeleton": "canonical17", "units": "mm"}
    attrs["content_hash"] = arrays_hash(cols, _hashable_attrs(attrs))
    attrs["format_version"] = 1
    with h5py.File(path, "w") as f:
        for k, a in cols.items():
            if a.dtype.kind == "O":
                f.create_dataset(k, data=a, dtype=h5py.string_dtype("utf-8"))
            else:
                f.create_dataset(k, data=a, compression="gzip", shuffle=True)
        for k, v in attrs.items():
            f.attrs[k] = v
    return attrs["content_hash"]


def test_format1_files_still_read_and_are_verified_whole(tmp_path):
    path = tmp_path / "v1.h5"
    cols = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in _columns().items()}
    h = _write_v1(path, cols, {"dataset": "h36m", "split": "test"})
    data = read_prepared(path, columns=["joints3d"], rows=[3])
    assert data.verified and data.content_hash == h
    assert verify_prepared(path) == h
    with h5py.File(path, "r+") as f:
        f["frame"][0] = 99
    with pytest.raises(ContentHashError, match="format-1 file cannot say which column"):
        read_prepared(path, columns=["joints3d"])


def test_info_marks_the_hash_unverified_and_verify_refuses_a_tampered_file(prepared):
    path, h = prepared
    out = CliRunner().invoke(main, ["info", str(path)])
    assert out.exit_code == 0 and f"content hash {h}  (recorded, not verified" in out.output
    out = CliRunner().invoke(main, ["info", str(path), "--verify"])
    assert out.exit_code == 0 and f"content hash {h}  (verified" in out.output
    with h5py.File(path, "r+") as f:
        f["joints3d"][0] *= 2
    out = CliRunner().invoke(main, ["info", str(path), "--verify"])
    assert out.exit_code == 1 and "column 'joints3d' does not match its content hash" in out.output
    assert "Traceback" not in out.output and h not in out.output


def test_path_check_covers_every_row_of_a_large_file(tmp_path):
    n = 200_001
    images = np.full(n, "", dtype=object)
    images[::64] = "images/ok.jpg"
    images[200_000] = "/etc/passwd"
    cols = {"joints2d": np.zeros((n, 17, 2), np.float32), "mask": np.ones((n, 17), bool),
            "centre": np.zeros((n, 2), np.float32), "scale": np.ones(n, np.float32), "image": images}
    attrs = {"dataset": "mpii", "split": "train", "kind": "2d"}
    with pytest.raises(PreparedFileError, match=r"1 paths that leave the data folder, e.g. '/etc/passwd'"):
        validate_columns(cols, attrs)
    images[200_000] = "images/ok.jpg"
    path = tmp_path / "big.h5"
    write_prepared(path, cols, attrs)
    with h5py.File(path, "r+") as f:  # written behind posebench's back: only the unverified read sees it
        f["image"][200_000] = "a/../../x.jpg".encode()
    with pytest.raises(PreparedFileError, match=r"paths that leave the data folder, e.g. 'a/../../x.jpg'"):
        read_prepared(path, columns=["image"], verify=False)
    with pytest.raises(ContentHashError):
        read_prepared(path, columns=["image"])


@pytest.mark.parametrize("path,ok", [("", True), ("a/b.jpg", True), ("a..b/c", True), ("..", False),
                                     ("a/../b", False), ("\\\\srv\\x", False), ("C:x", False), ("a\\..\\b", False),
                                     ("/abs", False)])
def test_unsafe_paths_matches_the_per_path_rule(path, ok):
    assert unsafe_paths(np.array(["fine/x.jpg", path], dtype=object))[0] == (0 if ok else 1)


def test_factorize_gives_natural_label_order_and_round_trips():
    values = np.array(["TS10", "TS2", "TS2", "TS1", "TS10"], dtype=object)
    codes, labels = factorize(values)
    assert labels.tolist() == ["TS1", "TS2", "TS10"] and labels[codes].tolist() == values.tolist()
    codes, labels = factorize(np.array([11, 9, 9, 11]))
    assert labels.tolist() == ["9", "11"] and codes.tolist() == [1, 0, 0, 1]


def test_in_memory_data_keeps_working_unverified():
    d = PreparedData.from_arrays("h36m", "test", joints3d=np.zeros((2, 17, 3)))
    assert not d.verified and len(d.content_hash) == 64


def test_evaluate_refuses_a_tampered_file_and_records_the_verified_hash(tmp_path):
    import posebench
    from posebench.predictions import write_predictions

    path = tmp_path / "data" / "h36m" / "test.h5"
    cols = _columns(n=192)
    cols["frame"] = np.arange(192) * 64  # every row selected by h36m's every-64th-frame rule
    h = write_prepared(path, cols, {"dataset": "h36m", "split": "test"})
    gt = read_prepared(path, columns=["joints3d"])["joints3d"]
    write_predictions(tmp_path / "p.h5", gt + 10.0 * np.arange(17)[None, :, None], np.arange(192))
    run = posebench.evaluate(tmp_path / "p.h5", "h36m", path)
    assert run.meta["data"]["content_hash"] == h and run.meta["data"]["hash_verified"] is True
    with h5py.File(path, "r+") as f:
        f["joints3d"][5, 3] += 40.0
    out = CliRunner().invoke(main, ["evaluate", "-p", "h36m", "-d", str(path), "--predictions", str(tmp_path / "p.h5"),
                                    "--results-dir", str(tmp_path / "res")])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert out.output.strip().splitlines()[-1] == (f"Error: {path}: column 'joints3d' does not match its content hash "
                                                   "(changed after the file was written); re-prepare it")
    assert not (tmp_path / "res").exists() or not list((tmp_path / "res").rglob("*.json"))

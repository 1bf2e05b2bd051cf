"""Shards: atomic writes, validity by fingerprint and hash, stale temps removed, merge in key order."""
from __future__ import annotations

import os

import numpy as np
import pytest

from posebench.prepare.shards import ShardError, ShardStore, sort_key


def _cols(n: int, tag: str) -> dict[str, np.ndarray]:
    return {"x": np.arange(n, dtype=np.float32) + len(tag), "name": np.array([tag] * n, dtype=object)}


def test_roundtrip_validity_and_merge_order(tmp_path):
    store = ShardStore(tmp_path / "shards")
    keys = [(11, "Walking", 1), (9, "Walking 1", 2), (9, "Directions", 1)]
    for k in keys:
        store.write(k, _cols(3, f"{k[0]}-{k[1]}"), fingerprint="fp", meta={"k": list(k)})
    assert all(store.is_valid(k, "fp") for k in keys)
    assert not store.is_valid(keys[0], "other inputs")
    assert not store.is_valid((5, "absent", 1), "fp")
    cols, metas = store.merge(keys)
    assert [m["k"] for m in metas] == [[9, "Directions", 1], [9, "Walking 1", 2], [11, "Walking", 1]]
    assert list(cols["name"][::3]) == ["9-Directions", "9-Walking 1", "11-Walking"]
    assert sort_key((9, "a")) < sort_key((11, "a"))


def test_corrupt_or_stale_files_are_not_valid(tmp_path):
    store = ShardStore(tmp_path)
    p = store.write(("S1", "a"), _cols(5, "a"), "fp")
    p.write_bytes(p.read_bytes()[:200])  # a truncated file (e.g. disk full)
    assert not store.is_valid(("S1", "a"), "fp")
    stale = tmp_path / ".S1__b.h5.999999999.abcdefgh.tmp"  # its writer (pid) is gone
    stale.write_bytes(b"partial")
    live = tmp_path / f".S1__c.h5.{os.getpid()}.abcdefgh.tmp"  # a writer still running
    live.write_bytes(b"partial")
    assert store.clean_temps() == [stale] and not stale.exists() and live.exists()


def test_bad_keys_and_columns_are_refused(tmp_path):
    store = ShardStore(tmp_path)
    with pytest.raises(ShardError):
        store.path(("..", "x"))
    with pytest.raises(ShardError):
        store.write(("a",), {"x": np.zeros(2), "y": np.zeros(3)}, "fp")
    with pytest.raises(ShardError):
        store.merge([])

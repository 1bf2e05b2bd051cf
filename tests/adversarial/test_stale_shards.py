"""Resumed prepares reuse a shard only when its inputs' content matches, whatever size and mtime say."""
from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from posebench.prepare.mpi_common import run_sharded
from posebench.prepare.shards import _DIGESTS, input_fingerprint

CALLS: list[str] = []


def _read_input(path: str) -> tuple[dict[str, np.ndarray], dict]:
    CALLS.append(path)
    values = np.frombuffer(open(path, "rb").read(), dtype=np.uint8).astype(np.float32)
    return {"x": values}, {"warnings": []}


def _same_size_same_mtime_edit(path, offset: int = 10) -> None:
    """Change one byte the way a bad copy or a bit flip does, then restore size and mtime (as `cp -p`/`rsync -a`)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    _DIGESTS.clear()  # a new run is a new process


@pytest.mark.correct_result
def test_a_changed_input_with_size_and_mtime_kept_invalidates_its_shard(tmp_path):
    inputs = {name: tmp_path / f"{name}.cdf" for name in ("a", "b")}
    for i, p in enumerate(inputs.values()):
        p.write_bytes(bytes(range(i, i + 64)))
    tasks = {k: (_read_input, (str(p),), [p]) for k, p in inputs.items()}
    shards = tmp_path / ".shards"
    CALLS.clear()
    first = run_sharded(tasks, shards, progress=False)
    assert sorted(CALLS) == sorted(map(str, inputs.values()))
    CALLS.clear()
    run_sharded(tasks, shards, progress=False)
    assert CALLS == []  # unchanged inputs: both shards reused
    _same_size_same_mtime_edit(inputs["a"])
    again = run_sharded(tasks, shards, progress=False)
    assert CALLS == [str(inputs["a"])]  # only the changed input's shard is redone
    assert again["a"]["columns"]["x"][10] != first["a"]["columns"]["x"][10]
    np.testing.assert_array_equal(again["b"]["columns"]["x"], first["b"]["columns"]["x"])


@pytest.mark.correct_result
@pytest.mark.parametrize("copier", ["cp -p", "rsync -a"])
def test_a_copy_tool_that_keeps_metadata_cannot_hide_a_changed_video(tmp_path, copier):
    video = tmp_path / "Directions.54138969.mp4"
    video.write_bytes(os.urandom(4096))
    before = input_fingerprint(["v1"], [video])
    other = tmp_path / "other.mp4"
    data = bytearray(video.read_bytes())
    data[-1] ^= 1  # the very last byte
    other.write_bytes(bytes(data))
    os.utime(other, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns))
    tool = shutil.which(copier.split()[0])
    if tool is None:  # the copy semantics, without the tool
        shutil.copy2(other, video)
    else:
        subprocess.run([*copier.split(), str(other), str(video)], check=True)
    assert video.stat().st_size == 4096
    _DIGESTS.clear()
    assert input_fingerprint(["v1"], [video]) != before


@pytest.mark.correct_result
def test_a_folder_input_changes_its_fingerprint_when_any_file_in_it_does(tmp_path):
    folder = tmp_path / "imageSequence"
    folder.mkdir()
    for i in range(3):
        (folder / f"img_{i:06d}.jpg").write_bytes(bytes([i]) * 100)
    before = input_fingerprint([], [folder])
    _same_size_same_mtime_edit(folder / "img_000001.jpg", offset=50)
    assert input_fingerprint([], [folder]) != before

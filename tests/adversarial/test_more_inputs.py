"""More hostile inputs: odd file kinds, crafted prepared files, paths that try to leave their folder."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from posebench.predictions import write_predictions
from tests.adversarial.conftest import cli, one_line_error, tree


def _evaluate(world, preds, data=None):
    return cli("evaluate", "-p", "h36m", "-d", data or world.data, "--predictions", preds, "--results-dir",
               world.path("results"))


def _refused(world, out, *fragments):
    before = tree(world.root)
    one_line_error(out, *fragments)
    assert tree(world.root) == before


@pytest.mark.clear_error
def test_predictions_that_are_a_device_or_fifo(world):
    fifo = world.path("preds.fifo")
    os.mkfifo(fifo)
    _refused(world, _evaluate(world, fifo), f"{fifo}: not a regular file")
    _refused(world, _evaluate(world, "/dev/zero"), "/dev/zero: not a regular file")


@pytest.mark.clear_error
@pytest.mark.parametrize("keep", [0, 100, 0.5])
def test_truncated_hdf5_predictions(world, keep):
    data = world.preds.read_bytes()
    cut = world.path("cut.h5")
    cut.write_bytes(data[:int(len(data) * keep) if isinstance(keep, float) else keep])
    one_line_error(_evaluate(world, cut), str(cut), "not a readable")


@pytest.mark.clear_error
def test_zero_row_predictions(world):
    empty = world.path("empty.h5")
    write_predictions(empty, np.zeros((0, 17, 3)), np.zeros(0, dtype=np.int64))
    _refused(world, _evaluate(world, empty), "21 of the 21 rows the protocol scores have no prediction")


@pytest.mark.clear_error
def test_index_values_beyond_int64_range_or_negative(world):
    with h5py.File(world.preds, "r") as f:
        j, idx = f["joints3d"][()], f["index"][()]
    for bad, fragment in ((idx.astype(np.uint64) + np.uint64(2**63), "48 index values are beyond any row number "
                           "(first: 9223372036854775808"), (idx - 1, "index values are outside the prepared file's 0..47")):
        path = world.path("bad-index.h5")
        with h5py.File(path, "w") as f:
            f["joints3d"], f["index"] = j, bad
        _refused(world, _evaluate(world, path), fragment)


@pytest.mark.clear_error
def test_a_system_file_given_as_a_protocol_leaks_nothing(world):
    secret = world.path("shadow.toml")
    secret.write_text("root:TOPSECRET:19000:0:99999:7:::\n")
    line = one_line_error(cli("protocols", "validate", secret), "cannot read protocol")
    assert "TOPSECRET" not in line


@pytest.mark.clear_error
def test_a_prepared_file_with_a_huge_first_column_is_refused_before_reading(world):
    crafted = world.path("crafted.h5")
    with h5py.File(world.prepared, "r") as src, h5py.File(crafted, "w", track_order=True) as f:
        f.create_dataset("aaa", shape=(2**36,), dtype="f8", chunks=(1024,))  # 512 GiB if read
        for k in src.keys():
            src.copy(src[k], f, k)
        for k, v in src.attrs.items():
            f.attrs[k] = v
    _refused(world, _evaluate(world, world.preds, crafted), "dataset 'aaa' has 68719476736 rows, expected 48")


@pytest.mark.clear_error
def test_a_prepared_column_of_the_wrong_type(world):
    with h5py.File(world.prepared, "r+") as f:
        subj = f["subject"][()]
        del f["subject"]
        f["subject"] = np.array([str(s) for s in subj], dtype=object).astype("S")
    out = _evaluate(world, world.preds)
    assert out.code == 1 and "subject" in out.output and "Traceback" not in out.output, out.output


@pytest.mark.clear_error
def test_a_folder_named_like_the_prepared_file(world):
    folder = world.path("fake.h5")
    folder.mkdir()
    out = _evaluate(world, world.preds, folder)
    assert out.code == 1 and "Traceback" not in out.output, out.output


@pytest.mark.clear_error
def test_results_dir_that_is_a_file(world):
    out = cli("evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds, "--results-dir", world.preds)
    assert out.code == 2 and "is a file" in out.output

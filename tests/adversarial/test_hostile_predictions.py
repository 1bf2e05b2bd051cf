"""Hostile predictions files, end to end through `posebench evaluate`: refused in one line, or scored right."""
from __future__ import annotations

import json
import zipfile

import h5py
import numpy as np
import pytest

from posebench.predictions import write_predictions
from tests.adversarial.conftest import HONEST_MPJPE, cli, one_line_error, tree


def _evaluate(world, preds, *extra):
    return cli("evaluate", "-p", "h36m", "-d", world.data, "--predictions", preds, "--results-dir",
               world.path("results"), *extra)


def _refused(world, preds, *fragments):
    before = tree(world.root)
    line = one_line_error(_evaluate(world, preds), *fragments)
    assert tree(world.root) == before, "a refused submission must leave nothing behind"
    return line


def _honest(world):
    with h5py.File(world.preds, "r") as f:
        return f["joints3d"][()], f["index"][()]


def _scored_mpjpe(out) -> float:
    assert out.code == 0, out.output
    return json.loads(out.output[out.output.index("{"):out.output.rindex("}") + 1])["summary"]["mpjpe"]


@pytest.mark.correct_result
def test_honest_predictions_score_the_known_error(world):
    assert _scored_mpjpe(_evaluate(world, world.preds, "--format", "json")) == pytest.approx(HONEST_MPJPE, abs=1e-4)


@pytest.mark.clear_error
@pytest.mark.parametrize("unit,scale,n_bad", [("metres", 1e-3, 10), ("centimetres", 0.1, 3), ("metres", 1e-3, 48)])
def test_rows_in_other_units_are_counted_and_named_even_when_the_median_is_fine(world, unit, scale, n_bad):
    j, idx = _honest(world)
    bad = np.arange(5, 5 + n_bad) if n_bad < len(j) else np.arange(len(j))
    j[bad] *= scale
    path = world.path("mixed.h5")
    write_predictions(path, j, idx)
    share = "every row" if n_bad == len(j) else f"{n_bad} of {len(j)} rows"
    _refused(world, path, f"looks like {unit} in {share}", f"first at positions {', '.join(map(str, bad[:5]))}",
             "multiply them by")


@pytest.mark.clear_error
def test_an_untrained_model_output_is_not_told_to_multiply_by_1000(world):
    j, idx = _honest(world)
    rng = np.random.default_rng(1)
    j = rng.normal(0, 0.002, size=j.shape)  # what a freshly initialised regression head emits
    path = world.path("untrained.h5")
    write_predictions(path, j, idx)
    line = _refused(world, path, "not human-sized in any unit", "is the model trained and the export right?")
    assert "multiply" not in line


@pytest.mark.clear_error
def test_np_save_file_named_npz(world):
    path = world.path("p.npz")
    with open(path, "wb") as f:
        np.save(f, _honest(world)[0])
    _refused(world, path, "a single .npy array (np.save) under a .npz name", "np.savez(")


@pytest.mark.clear_error
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_npz(world, keep):
    j, idx = _honest(world)
    full = world.path("full.npz")
    np.savez(full, joints3d=j, index=idx)
    data = full.read_bytes()
    path = world.path("cut.npz")
    path.write_bytes(data[:int(len(data) * keep)])
    _refused(world, path, str(path), "not a readable .npz file, truncated or corrupt")


@pytest.mark.clear_error
def test_npz_whose_header_claims_more_rows_than_it_holds(world):
    j, idx = _honest(world)
    path = world.path("lying.npz")
    np.savez(path, joints3d=j, index=idx)
    with zipfile.ZipFile(path) as zf:
        raw = {n: zf.read(n) for n in zf.namelist()}
    raw["joints3d.npy"] = raw["joints3d.npy"].replace(b"(48, 17, 3)", b"(40, 17, 3)")
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in raw.items():
            zf.writestr(n, b)
    _refused(world, path, "array 'joints3d' is truncated or padded")


@pytest.mark.clear_error
def test_npz_with_pickled_objects_is_refused_without_unpickling(world):
    path = world.path("obj.npz")
    np.savez(path, joints3d=np.array([{"x": 1}], dtype=object), index=np.arange(1))
    _refused(world, path, "array 'joints3d' has type object")


@pytest.mark.correct_result
def test_npz_with_a_huge_unused_member_is_scored_without_reading_it(world):
    j, idx = _honest(world)
    path = world.path("extra.npz")
    np.savez(path, joints3d=j, index=idx)
    header = b"\x93NUMPY\x01\x00" + b"v\x00" + b"{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }".ljust(117) + b"\n"
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("unused.npy", header)  # claims 8 TiB; reading it would fail or exhaust memory
    assert _scored_mpjpe(_evaluate(world, path, "--format", "json")) == pytest.approx(HONEST_MPJPE, abs=1e-4)


@pytest.mark.correct_result
def test_hdf5_with_a_huge_unused_dataset_is_scored_without_reading_it(world):
    with h5py.File(world.preds, "a") as f:
        f.create_dataset("unused", shape=(2**40,), dtype=np.float64, chunks=(1024,))
    assert _scored_mpjpe(_evaluate(world, world.preds, "--format", "json")) == pytest.approx(HONEST_MPJPE, abs=1e-4)


@pytest.mark.clear_error
def test_joints3d_declaring_more_rows_than_the_prepared_file_is_refused_before_allocation(world):
    path = world.path("sparse.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("joints3d", shape=(2**31, 17, 3), dtype=np.float64, chunks=(1, 17, 3))
        f["index"] = np.arange(4)
    _refused(world, path, "dataset 'joints3d' has 2147483648 rows, more than the 48 expected")


@pytest.mark.clear_error
@pytest.mark.parametrize("how", ["external_link", "virtual", "soft_link_to_other_file"])
def test_a_submission_that_reads_the_answer_key_is_refused(world, how):
    path = world.path("cheat.h5")
    with h5py.File(path, "w") as f:
        f["index"] = np.arange(48)
        if how == "external_link":
            f["joints3d"] = h5py.ExternalLink(str(world.prepared), "/joints3d")
        elif how == "virtual":
            layout = h5py.VirtualLayout(shape=(48, 17, 3), dtype=np.float32)
            layout[:] = h5py.VirtualSource(str(world.prepared), "joints3d", shape=(48, 17, 3))
            f.create_virtual_dataset("joints3d", layout)
        else:
            f["real"] = np.zeros((48, 17, 3))
            f["joints3d"] = h5py.SoftLink("/real")
    expect = {"external_link": ["external link to", str(world.prepared)], "virtual": ["virtual dataset"],
              "soft_link_to_other_file": ["soft link to /real"]}[how]
    _refused(world, path, str(path), "'joints3d'", *expect)


@pytest.mark.clear_error
def test_index_in_external_storage_on_a_system_file_leaks_nothing(world):
    path = world.path("leak.h5")
    secret = world.path("secret.txt")
    secret.write_bytes(b"TOPSECRET" * 100)
    with h5py.File(path, "w") as f:
        f["joints3d"] = _honest(world)[0]
        f.create_dataset("index", shape=(48,), dtype=np.int64, external=[(str(secret), 0, 48 * 8)])
    line = _refused(world, path, "'index' uses HDF5 external storage")
    assert "TOPSECRET" not in line and "1414484" not in line


@pytest.mark.clear_error
@pytest.mark.parametrize("what,fragment", [
    ("group", "'joints3d' is a group, not a dataset"),
    ("strings", "'joints3d' has shape (48,), expected (N, 17, 3)"),
    ("compound", "has a compound/opaque type"),
    ("fractional_index", "index must hold integers"),
    ("scalar_index", "'index' has shape (), expected (N,)"),
])
def test_malformed_columns(world, what, fragment):
    path = world.path("bad.h5")
    j, idx = _honest(world)
    with h5py.File(path, "w") as f:
        if what == "group":
            f.create_group("joints3d")
        elif what == "strings":
            f["joints3d"] = np.array(["a"] * 48, dtype=object).astype("S")
        elif what == "compound":
            f["joints3d"] = np.zeros((48, 17, 3), dtype=[("a", "<f4"), ("b", "<i4")])
        else:
            f["joints3d"] = j
        if what == "fractional_index":
            f["index"] = idx + 0.5
        elif what == "scalar_index":
            f["index"] = 3
        else:
            f["index"] = idx
    _refused(world, path, fragment)


@pytest.mark.clear_error
def test_the_prepared_file_given_as_predictions(world):
    _refused(world, world.prepared, "missing dataset 'index'")


@pytest.mark.clear_error
@pytest.mark.parametrize("batch", [0, -1, 2.5, True])
def test_model_batch_sizes_are_checked_in_the_api(world, batch):
    from posebench.evaluation import predict_rows

    class Model:
        def predict(self, b):  # pragma: no cover - must never run
            raise AssertionError("predict called")

    with pytest.raises(ValueError, match="batch size must be a whole number >= 1"):
        predict_rows(Model(), {"index": np.arange(5)}, "", batch_size=batch, progress=False)


@pytest.mark.clear_error
def test_a_model_returning_the_wrong_shape_is_named(world):
    from posebench.evaluation import predict_rows
    from posebench.predictions import PredictionsError

    class Model:
        name = "short"

        def predict(self, b):
            return np.zeros((len(b["index"]) - 1, 17, 3))

    with pytest.raises(PredictionsError, match="model 'short' returned shape \\(2, 17, 3\\) for a batch of 3 rows"):
        predict_rows(Model(), {"index": np.arange(3)}, "", batch_size=4, progress=False)


@pytest.mark.correct_result
@pytest.mark.parametrize("saver", ["savez", "savez_compressed"])
def test_npz_predictions_score_like_hdf5(world, saver):
    j, idx = _honest(world)
    path = world.path("p.npz")
    getattr(np, saver)(path, joints3d=j, index=idx, notes=np.array(["unused"]))
    assert _scored_mpjpe(_evaluate(world, path, "--format", "json")) == pytest.approx(HONEST_MPJPE, abs=1e-4)

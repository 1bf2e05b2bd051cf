"""The test-split preparer on look-alike trees (posebench.sample.mpi3dhp, written independently).

Intrinsics tolerance: the fit must match the generator's intrinsics to 0.01 % (focal) and 0.01 % of the image
size (centre) on the undistorted TS1-4, and to 0.5 % / 0.2 % on the GoPro TS5-6, whose OpenCV distortion
(k1, k2, k3, tangential) the fit's two radial terms only approximate (seen: <= 0.19 % / 0.03 % over seeds 0-5).
The preparer's own check against the .calib files (posebench.prepare.mpi3dhp.TOLERANCE) must pass.
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from posebench.data import read_prepared
from posebench.names import SEQUENCE_SCENE
from posebench.prepare.mpi3dhp import ORIGINAL_VALID_COUNTS, prepare_test
from posebench.sample.mpi3dhp import write_tree

SEQS = [f"TS{k}" for k in range(1, 7)]


@pytest.fixture(scope="module", params=["original", "corrected"])
def lookalike(request, tmp_path_factory):
    labels = request.param
    src = tmp_path_factory.mktemp(f"look_{labels}")
    write_tree(src, seed=3, split="test", labels=labels)
    out = tmp_path_factory.mktemp(f"look_{labels}_out")
    lines: list[str] = []
    with pytest.warns(UserWarning, match="may be the corrected labels") if labels == "original" else _no_warning():
        path = prepare_test(src, out, labels, height=64, progress=False, echo=lines.append)
    meta = json.loads((src / "posebench-sample.json").read_text())
    return labels, src / "mpi_inf_3dhp_test_set", out, read_prepared(path), meta, lines


class _no_warning:
    def __enter__(self):
        import warnings
        self._c = warnings.catch_warnings()
        self._c.__enter__()
        warnings.simplefilter("error", UserWarning)

    def __exit__(self, *exc):
        self._c.__exit__(*exc)


def test_rows_and_labels_round_trip(lookalike):
    labels, root, _, data, meta, _ = lookalike
    assert data.labels == labels
    for seq in SEQS:
        rows = data["sequence"] == seq
        m = meta["test"][seq]
        assert rows.sum() == m["rows"]
        with h5py.File(root / seq / "annot_data.mat", "r") as f:
            np.testing.assert_allclose(data["joints3d"][rows], f["annot3"][:, 0], rtol=1e-6, atol=1e-3)
            np.testing.assert_allclose(data["joints3d_univ"][rows], f["univ_annot3"][:, 0], rtol=1e-6, atol=1e-3)
            np.testing.assert_array_equal(data["activity"][rows], f["activity_annotation"][:, 0].astype(int))
            np.testing.assert_array_equal(data["valid"][rows], f["valid_frame"][:, 0] == 1)
        assert int(data["valid"][rows].sum()) == m["valid"]
        assert {str(a): int((data["activity"][rows] == int(a)).sum()) for a in m["activities"]} == m["activities"]
        assert set(data["scene"][rows]) == {m["scene"]} == {SEQUENCE_SCENE[seq]}


def test_univ_relation(lookalike):
    _, _, _, data, meta, _ = lookalike
    for seq in SEQS:
        rows = data["sequence"] == seq
        rel = data["joints3d"][rows] - data["joints3d"][rows][:, 14:15]
        urel = data["joints3d_univ"][rows] - data["joints3d_univ"][rows][:, 14:15]
        changed = meta["test"][seq]["label_differences"]["univ_only_joints_corrected"] if data.labels == "corrected" else []
        keep = [j for j in range(17) if j not in changed]
        np.testing.assert_allclose(urel[:, keep], rel[:, keep] * meta["test"][seq]["univ_scale"], rtol=1e-4, atol=0.05)


def test_intrinsics_match_generator(lookalike):
    _, _, out, data, meta, _ = lookalike
    assert data.attrs["intrinsics_ok"] in (True, 1)
    for seq in SEQS:
        rows = np.flatnonzero(data["sequence"] == seq)
        m = meta["test"][seq]
        w, h = m["size"]
        s = min(1.0, 64 / h)
        sx = round(w * s) / w  # the stored width is rounded to whole pixels
        expect = np.array([m["intrinsics"][k] for k in ("fx", "fy", "cx", "cy")]) * [sx, s, sx, s]
        got = data["intrinsics"][rows[0]]
        f_tol, c_tol = (1e-4, 1e-4) if int(seq[2:]) <= 4 else (5e-3, 2e-3)
        np.testing.assert_allclose(got[:2], expect[:2], rtol=f_tol)
        np.testing.assert_allclose(got[2:], expect[2:], atol=c_tol * max(w, h) * s)
        from PIL import Image
        assert Image.open(out / "mpi3dhp" / data["image"][rows[0]]).size == (round(w * s), round(h * s))


def test_counts_recorded(lookalike):
    labels, _, _, data, meta, lines = lookalike
    counts = {s: meta["test"][s]["valid"] for s in SEQS}
    assert data.attrs["valid_counts"] == counts and data.attrs["valid_total"] == sum(counts.values())
    assert data.attrs["counts_match_original"] == (counts == ORIGINAL_VALID_COUNTS)
    report = data.attrs["sequence_report"]
    assert report["TS3"]["images_beyond_labels"] == meta["test"]["TS3"]["images"] - meta["test"]["TS3"]["rows"]
    assert any(f"{counts['TS4']} valid" in line for line in lines if line.startswith("TS4"))

"""mpi3dhp-official reproduces the official MPI-INF-3DHP MATLAB scoring (run under Octave) to 1e-9."""
from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest

import posebench
from posebench.data import PreparedData
from posebench.skeleton import MPI3DHP_GROUPS

OFFICIAL_ACTIVITIES = ["Standing/Walking", "Exercising", "Sitting", "Reaching/Crouching", "On The Floor",
                       "Sports", "Miscellaneous"]
SCENES = {1: "green_screen", 2: "green_screen", 3: "studio", 4: "studio", 5: "outdoor", 6: "outdoor"}


def _read_blocks(path) -> dict[str, dict[str, list[float]]]:
    """The official CSV: an MPJPE block (header starts with ''), then 'PCK' and 'AUC' blocks."""
    blocks: dict[str, dict[str, list[float]]] = {}
    current = None
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or not any(row):
                continue
            if row[0] in ("", "PCK", "AUC") and not _is_number(row[1]):
                current = row[0] or "MPJPE"
                blocks[current] = {"__header__": [c for c in row[1:] if c]}
                continue
            blocks[current][row[0]] = [float(c) for c in row[1:] if c != ""]
    return blocks


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def golden_result(testdata):
    folder = testdata / "mpi3dhp-official-scoring"
    cols = {k: [] for k in ("joints3d_univ", "valid", "activity", "sequence", "scene", "subject", "frame")}
    preds, index, offset = [], [], 0
    with h5py.File(folder / "golden.h5", "r") as f:
        for k in range(1, 7):
            g = f[f"TS{k}"]
            univ = g["univ_annot3"][()]
            valid = g["valid_frame"][()].astype(bool)
            n = len(univ)
            cols["joints3d_univ"].append(univ)
            cols["valid"].append(valid)
            cols["activity"].append(g["activity_annotation"][()].astype(np.int64))
            cols["sequence"] += [f"TS{k}"] * n
            cols["scene"] += [SCENES[k]] * n
            cols["subject"].append(np.full(n, k))
            cols["frame"].append(np.arange(n))
            preds.append(g["prediction"][()])
            index.append(offset + np.flatnonzero(valid))
            offset += n
    arrays = {k: (np.concatenate(v) if isinstance(v[0], np.ndarray) else np.array(v, dtype=object))
              for k, v in cols.items()}
    arrays["joints3d"] = arrays["joints3d_univ"]
    data = PreparedData.from_arrays("mpi3dhp", "test", labels="corrected", **arrays)
    assert data["joints3d"].dtype == np.float64
    result = posebench.evaluate(np.concatenate(preds), protocol="mpi3dhp-official", data=data,
                                index=np.concatenate(index))
    return result, _read_blocks(folder / "official_activitywise.csv"), _read_blocks(folder / "official_sequencewise.csv")


def _close(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=1e-9, atol=1e-9)


def test_headline_numbers(golden_result):
    result, act, _ = golden_result
    assert result.meta["rows_scored"] == 1609
    _close(result.summary["pck"], act["PCK"]["All"][-1])
    _close(result.summary["auc"], act["AUC"]["All"][-1])
    _close(result.summary["mpjpe"], act["MPJPE"]["All"][-1])
    assert round(result.summary["pck"], 4) == 73.1688
    assert round(result.summary["auc"], 4) == 28.6237
    assert round(result.summary["mpjpe"], 4) == 121.8652


@pytest.mark.parametrize("by,csvname,names", [
    ("activity", "act", {str(i + 1): n for i, n in enumerate(OFFICIAL_ACTIVITIES)}),
    ("sequence", "seq", {f"TS{k}": f"TestSeq{k}" for k in range(1, 7)}),
])
def test_every_table_number(golden_result, by, csvname, names):
    result, act, seq = golden_result
    blocks = act if csvname == "act" else seq
    per_joint = result.joint_table("mpjpe", by=by)  # 17 joints + Average
    pck = result.joint_table("pck", by=by, joint_groups=MPI3DHP_GROUPS)
    auc = result.joint_table("auc", by=by, joint_groups=MPI3DHP_GROUPS)
    assert list(pck.columns) == blocks["PCK"]["__header__"]
    checked = 0
    for ours_key, official in {**names, "All": "All"}.items():
        if official not in blocks["MPJPE"]:
            continue
        _close(per_joint.loc[ours_key].to_numpy(), blocks["MPJPE"][official])
        _close(pck.loc[ours_key].to_numpy(), blocks["PCK"][official])
        _close(auc.loc[ours_key].to_numpy(), blocks["AUC"][official])
        checked += 1
    assert checked == len(names) + (1 if "All" in blocks["MPJPE"] else 0)


def test_scene_table_is_frame_weighted(golden_result):
    result, _, seq = golden_result
    scenes = result.table("scene", names=False)
    counts = result.table("sequence", names=False)["rows"]
    for scene, (a, b) in {"green_screen": (1, 2), "studio": (3, 4), "outdoor": (5, 6)}.items():
        na, nb = counts[f"TS{a}"], counts[f"TS{b}"]
        expected = (seq["PCK"][f"TestSeq{a}"][-1] * na + seq["PCK"][f"TestSeq{b}"][-1] * nb) / (na + nb)
        _close(scenes.loc[scene, "pck"], expected)


def test_official_display_names_and_order(golden_result):
    result, act, seq = golden_result
    t = result.table("activity", names=True)
    assert list(t.index) == OFFICIAL_ACTIVITIES + ["All"]
    j = result.joint_table("pck", by="sequence", joint_groups=MPI3DHP_GROUPS, names=True)
    assert list(j.index) == [f"TestSeq{k}" for k in range(1, 7)] + ["All"]
    _close(j.loc["TestSeq3"].to_numpy(), seq["PCK"]["TestSeq3"])

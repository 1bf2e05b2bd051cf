"""Importers (--from): each layout scores exactly like the same predictions given directly; wrong orders and
foreign layouts are refused with the expected layout named."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

import posebench
from posebench.data import PreparedData
from posebench.evaluation import convert_predictions, make_template
from posebench.importers import detect_format
from posebench.predictions import PredictionsError, read_predictions, write_predictions
from posebench.sample.body import random_body
from posebench.sample.motion import motion
from posebench.skeleton import ROOT, from_canonical, from_h36m

CAMS = (54138969, 55011271, 58860488, 60457274)


def _h36m_data(t=12, seed=0):
    """S9 and S11, two takes each ('TakingPhoto 1' named as released for S1-style files), four cameras."""
    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("joints3d", "subject", "camera", "frame", "action", "sequence")}
    for s in (9, 11):
        for seq, act in (("Directions 1", "Directions"), ("TakingPhoto 1", "Photo")):
            pose = from_h36m(motion(random_body(rng, "h36m32"), act, t, rng)) + np.array([0, 0, 4000.0])
            for c in CAMS:
                cols["joints3d"].append(pose)
                cols["subject"] += [s] * t
                cols["camera"] += [c] * t
                cols["frame"] += list(range(t))
                cols["action"] += [act] * t
                cols["sequence"] += [seq] * t
    cols = {k: (np.concatenate(v) if k == "joints3d" else np.array(v)) for k, v in cols.items()}
    return PreparedData.from_arrays("h36m", "test", **cols)


def _predictions(gt, seed=1):
    rng = np.random.default_rng(seed)
    drift = np.cumsum(rng.normal(0, 4, gt.shape), axis=0)
    return gt + drift - drift.mean(axis=0)


def _direct(data, joints, protocol="h36m-lifting"):
    return posebench.evaluate((joints, np.arange(len(joints))), protocol, data).summary.to_dict()


def test_videopose3d_npz_in_metres_scores_like_the_same_predictions_given_directly(tmp_path):
    data = _h36m_data()
    pred = _predictions(data["joints3d"])
    tree: dict = {}
    for s in (9, 11):
        for seq in ("Directions 1", "TakingPhoto 1"):
            per_cam = []
            for c in CAMS:
                r = np.flatnonzero((data["subject"] == s) & (data["sequence"] == seq) & (data["camera"] == c))
                per_cam.append(from_canonical(pred[r], "h36m17") / 1000.0)  # metres, h36m17 order
            # VideoPose3D's own name for S1-style 'TakingPhoto' takes
            tree.setdefault(f"S{s}", {})[seq.replace("TakingPhoto", "Photo")] = per_cam
    tree["S1"] = {"Walking": [np.zeros((3, 17, 3))] * 4}  # a training subject: not in the test file, skipped
    path = tmp_path / "vp3d.npz"
    np.savez(path, positions_3d=np.array(tree, dtype=object))
    assert detect_format(path) == "videopose3d"
    got = posebench.evaluate(path, "h36m-lifting", data)
    want = _direct(data, pred)
    assert got.summary.to_dict() == pytest.approx(want, rel=1e-9)
    assert 0 < want["mpjpe"] < 100
    assert got.meta["predictions"]["format"] == "videopose3d" and got.meta["predictions"]["joint_order"] == "h36m17"
    # the same tree with a missing camera is refused, naming what is expected
    tree["S9"]["Directions 1"] = tree["S9"]["Directions 1"][:3]
    np.savez(path, positions_3d=np.array(tree, dtype=object))
    with pytest.raises(PredictionsError, match="expected one per camera"):
        posebench.evaluate(path, "h36m-lifting", data)


def test_mmpose_json_in_template_order_and_by_index(tmp_path):
    data = _h36m_data()
    pred = _predictions(data["joints3d"], seed=2)
    rows = make_template("h36m-lifting", data)["index"]
    kp = from_canonical(pred[rows], "h36m17") / 1000.0
    entries = [{"frame_id": i, "instances": [{"keypoints": k.tolist(), "keypoint_scores": [0.9] * 17}]}
               for i, k in enumerate(kp)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"meta_info": {"dataset_name": "h36m"}, "instance_info": entries[::-1]}))
    want = _direct(data, pred)
    assert posebench.evaluate(path, "h36m-lifting", data).summary.to_dict() == pytest.approx(want, rel=1e-9)
    for e, r in zip(entries, rows):
        e["index"] = int(r)
    path.write_text(json.dumps(entries[5:] + entries[:5]))  # any order once each entry names its row
    assert posebench.evaluate(path, "h36m-lifting", data).summary.to_dict() == pytest.approx(want, rel=1e-9)
    path.write_text(json.dumps({"instance_info": [{"frame_id": 0, "instances": []}]}))
    with pytest.raises(PredictionsError, match="no instances"):
        posebench.evaluate(path, "h36m-lifting", data)


def _mpi_data(n_per_ts=9, seed=0):
    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("joints3d", "joints3d_univ", "subject", "frame", "valid", "activity", "scene", "sequence")}
    for ts in range(1, 7):
        pose = from_h36m(motion(random_body(rng, "h36m32"), "Walking", n_per_ts, rng)) + np.array([0, 0, 4000.0])
        cols["joints3d"].append(pose)
        cols["joints3d_univ"].append(pose * 0.97)
        cols["subject"] += [ts] * n_per_ts
        cols["frame"] += list(range(n_per_ts))
        cols["valid"] += [f % 4 != 1 for f in range(n_per_ts)]
        cols["activity"] += [1 + (f + ts) % 7 for f in range(n_per_ts)]
        cols["scene"] += ["studio"] * n_per_ts
        cols["sequence"] += [f"TS{ts}"] * n_per_ts
    cols = {k: (np.concatenate(v) if k.startswith("joints") else np.array(v)) for k, v in cols.items()}
    return PreparedData.from_arrays("mpi3dhp", "test", labels="corrected", **cols)


@pytest.mark.parametrize("version", ["5", "7.3"])
def test_mpi_inference_data_mat_scores_like_direct_predictions(tmp_path, version):
    data = _mpi_data()
    univ = np.asarray(data["joints3d_univ"])
    pred = _predictions(univ, seed=3)
    rel = pred - pred[:, ROOT:ROOT + 1]
    mat = {}
    for ts in range(1, 7):
        r = np.flatnonzero((data["subject"] == ts) & data["valid"])
        mat[f"TS{ts}"] = rel[r].transpose(2, 1, 0)[:, :, None, :]  # 3 x 17 x 1 x N, as PoseFormer saves it
    path = tmp_path / "inference_data.mat"
    if version == "5":
        scipy.io.savemat(path, mat)
    else:
        from posebench.sample.matv73 import write_mat73

        write_mat73(path, {k: np.ascontiguousarray(v.T) for k, v in mat.items()})  # MATLAB stores column-major
    assert detect_format(path) == "mpi-mat"
    for protocol in ("mpi3dhp-official", "mpi3dhp-corrected"):
        got = posebench.evaluate(path, protocol, data).summary.to_dict()
        assert got == pytest.approx(_direct_mpi(data, pred, protocol), rel=1e-9)
    mat["TS2"] = mat["TS2"][..., :-1]
    scipy.io.savemat(path, mat)
    with pytest.raises(PredictionsError, match="TS2 holds 6 frames but the prepared test set has 7 valid frames"):
        posebench.evaluate(path, "mpi3dhp-official", data)


def _direct_mpi(data, pred, protocol):
    return posebench.evaluate((pred, np.arange(len(pred))), protocol, data).summary.to_dict()


def test_wrong_joint_order_is_refused_naming_the_order(tmp_path):
    data = _h36m_data()
    pred = _predictions(data["joints3d"])
    path = tmp_path / "h36m17.h5"
    write_predictions(path, from_canonical(pred, "h36m17"), np.arange(len(pred)))
    with pytest.raises(PredictionsError, match=r"'h36m17' order .*--joint-order h36m17"):
        posebench.evaluate(path, "h36m-lifting", data)
    with pytest.raises(PredictionsError, match="'h36m17' order"):
        posebench.evaluate((from_canonical(pred, "h36m17"), np.arange(len(pred))), "h36m-lifting", data)
    ok = posebench.evaluate(path, "h36m-lifting", data, joint_order="h36m17").summary.to_dict()
    assert ok == pytest.approx(_direct(data, pred), rel=1e-12)
    # canonical data declared h36m17 is refused the other way round
    write_predictions(path, pred, np.arange(len(pred)))
    with pytest.raises(PredictionsError, match="'canonical' order"):
        posebench.evaluate(path, "h36m-lifting", data, joint_order="h36m17")


def test_convert_writes_a_plain_predictions_file(tmp_path):
    data = _h36m_data()
    pred = _predictions(data["joints3d"])
    rows = make_template("h36m-lifting", data)["index"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"index": int(r), "keypoints": from_canonical(pred[r], "h36m17").tolist()}
                                for r in rows]))
    out = tmp_path / "plain.h5"
    assert convert_predictions(path, out, "h36m-lifting", data) == len(rows)
    joints, idx = read_predictions(out)
    np.testing.assert_allclose(joints, pred[rows])
    np.testing.assert_array_equal(idx, rows)


def test_template_carries_the_join_keys():
    t = make_template("h36m-lifting", _h36m_data())
    assert {"subject", "sequence", "camera", "frame"} <= set(t) and "activity" not in t
    assert t["sequence"][0] == "Directions 1" and t["camera"][0] == CAMS[0]
    m = make_template("mpi3dhp-official", _mpi_data())
    assert {"subject", "sequence", "frame", "activity"} <= set(m)
    assert len(m["activity"]) == len(m["index"]) and m["activity"].dtype.kind == "i"


@pytest.mark.parametrize("make", ["nested_npz", "json_h5", "mmpose_bad"])
def test_foreign_layouts_are_refused_naming_the_contract(tmp_path, make):
    data = _h36m_data()
    if make == "nested_npz":  # a VideoPose3D-style dict stored under the wrong name
        path = tmp_path / "p.npz"
        np.savez(path, joints3d=np.array({"S9": {}}, dtype=object), index=np.arange(3))
    elif make == "json_h5":  # an mmpose result file renamed .h5
        path = tmp_path / "p.h5"
        path.write_text("[]")
    else:
        path = tmp_path / "p.json"
        path.write_text(json.dumps({"predictions": [1, 2]}))
    with pytest.raises(PredictionsError) as e:
        posebench.evaluate(path, "h36m-lifting", data)
    msg = str(e.value)
    assert "`joints3d`" in msg and "`index`" in msg and "--template" in msg and "docs/contracts.md" in msg


def test_mmpose_pickle_of_preds_and_image_paths_matches_rows_by_image(tmp_path):
    import pickle

    base = _h36m_data()
    cols = dict(base.columns)
    cols["image"] = np.array([f"images/S{s}/{q}.{c}/{f:06d}.jpg" for s, q, c, f in
                              zip(cols["subject"], cols["sequence"], cols["camera"], cols["frame"])], dtype=object)
    data = PreparedData.from_arrays("h36m", "test", **cols)
    pred = _predictions(data["joints3d"], seed=5)
    order = np.random.default_rng(0).permutation(len(pred))
    batches = []
    for chunk in np.array_split(order, 4):  # mmpose 0.x test outputs: batches with scores in a 4th column
        kp = np.concatenate([from_canonical(pred[chunk], "h36m17") / 1000.0, np.ones((len(chunk), 17, 1))], -1)
        batches.append({"preds": kp.astype(np.float32),
                        "target_image_paths": [f"/data/h36m/{data['image'][i]}" for i in chunk]})
    path = tmp_path / "results.pkl"
    path.write_bytes(pickle.dumps(batches, protocol=2))
    got = posebench.evaluate(path, "h36m-lifting", data).summary.to_dict()
    assert got == pytest.approx(_direct(data, pred), rel=1e-5)  # float32 in the pickle
    batches[0]["target_image_paths"][0] = "/elsewhere/nothing.jpg"
    path.write_bytes(pickle.dumps(batches, protocol=2))
    with pytest.raises(PredictionsError, match="is not an image of the prepared file"):
        posebench.evaluate(path, "h36m-lifting", data)

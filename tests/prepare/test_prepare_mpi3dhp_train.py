"""posebench prepare mpi3dhp --split train on hand-built trees: rows, 28->17 map, universal scale, split."""
from __future__ import annotations

import av
import numpy as np
import pytest
import scipy.io

from posebench.data import read_prepared
from posebench.prepare.calibration import CalibrationError, read_camera_calibration
from posebench.prepare.matfile import MatFileError
from posebench.prepare.mpi3dhp import Mpi3dhpError
from posebench.prepare.mpi3dhp_train import prepare_train, read_train_annotations, select_frames

# canonical <- 28-joint index, written out independently of posebench.skeleton
MAP_28_TO_17 = [7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6]
W = H = 64
FX, FY, CX, CY = 1497.693, 1497.103, 1024.704, 1051.394  # S1/Seq1 camera 0, 2048 px
SCALE = 1.15  # annot3 / univ_annot3


def write_calibration(path, n_cams=14):
    lines = ["Skeletool Camera Calibration File V1.0"]
    for c in range(n_cams):
        lines += [f"name          {c}", "  sensor      10 10", "  size        2048 2048", "  animated    0",
                  f"  intrinsic   {FX} 0 {CX} 0 0 {FY} {CY} 0 0 0 1 0 0 0 0 1 ",
                  "  extrinsic   1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 ", "  radial      0"]
    path.write_text("\n".join(lines) + "\n")


def write_video(path, n, size=(W, H), seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(n):
            img = np.full((size[1], size[0], 3), (i * 10) % 255, np.uint8) + rng.integers(0, 5, (size[1], size[0], 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def build_sequence(d, n_rows, n_video, rng, masks=True, short_mask=None):
    """annot.mat (14 cameras), camera.calibration, videos for cameras 0 and 1; returns annot3 (14,N,28,3)."""
    d.mkdir(parents=True)
    rel = rng.normal(0, 200, (n_rows, 28, 3))
    rel[:, 4] = 0
    root = np.stack([rng.uniform(-100, 100, n_rows), rng.uniform(-100, 100, n_rows), rng.uniform(4000, 5000, n_rows)], 1)
    a3 = np.repeat((rel + root[:, None])[None], 14, 0)
    u3 = np.repeat((rel / SCALE + root[:, None])[None], 14, 0)
    s = W / 2048
    a2 = np.stack([FX * s * a3[..., 0] / a3[..., 2] + CX * s, FY * s * a3[..., 1] / a3[..., 2] + CY * s], -1)

    def cells(a):
        out = np.empty((14, 1), dtype=object)
        for c in range(14):
            out[c, 0] = a[c].reshape(n_rows, -1)
        return out
    scipy.io.savemat(d / "annot.mat", {"annot2": cells(a2), "annot3": cells(a3), "univ_annot3": cells(u3),
                                       "cameras": np.arange(14)[None], "frames": np.arange(n_rows)[:, None]})
    write_calibration(d / "camera.calibration")
    for c in (0, 1):
        write_video(d / "imageSequence" / f"video_{c}.avi", n_video)
        if masks:
            write_video(d / "FGmasks" / f"video_{c}.avi", short_mask if short_mask and c == 1 else n_video, seed=1)
    return a3, u3, a2


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    rng = np.random.default_rng(0)
    src = tmp_path_factory.mktemp("mpi3dhp_train_src")
    truth = {"S1/Seq1": build_sequence(src / "S1" / "Seq1", 12, 10, rng, short_mask=6),  # 2 surplus annotation rows
             "S4/Seq1": build_sequence(src / "S4" / "Seq1", 8, 8, rng, masks=False)}
    out = tmp_path_factory.mktemp("mpi3dhp_train_out")
    lines: list[str] = []
    train, val = prepare_train(src, out, cameras=(0, 1), height=32, stride=1, jobs=1, progress=False, echo=lines.append)
    return out, truth, read_prepared(train), read_prepared(val), lines


def test_rows_split_and_map(built):
    _, truth, train, val, _ = built
    assert set(train["sequence"]) == {"S1/Seq1"} and set(val["sequence"]) == {"S4/Seq1"}
    assert len(train) == 2 * 10 and len(val) == 2 * 8  # surplus annotation rows dropped
    for data, seq in ((train, "S1/Seq1"), (val, "S4/Seq1")):
        a3, u3, a2 = truth[seq]
        for c in (0, 1):
            rows = data["camera"] == c
            f = data["frame"][rows]
            np.testing.assert_allclose(data["joints3d"][rows], a3[c][f][:, MAP_28_TO_17], rtol=1e-6)
            np.testing.assert_allclose(data["joints3d_univ"][rows], u3[c][f][:, MAP_28_TO_17], rtol=1e-6)
            np.testing.assert_allclose(data["joints2d"][rows], a2[c][f][:, MAP_28_TO_17] / 2, rtol=1e-5, atol=1e-3)
    assert train.attrs["extra_annotation_rows"] == {"S1_Seq1_c0": 2, "S1_Seq1_c1": 2}
    assert set(train["subject"]) == {1} and set(val["subject"]) == {4}


def test_universal_scale(built):
    _, _, train, val, _ = built
    np.testing.assert_allclose(train["univ_scale"], 1 / SCALE, rtol=1e-6)  # univ - root = univ_scale (annot3 - root)
    np.testing.assert_allclose(val.attrs["univ_scale"]["S4/Seq1"], 1 / SCALE, rtol=1e-6)
    rel = train["joints3d"] - train["joints3d"][:, 14:15]
    urel = train["joints3d_univ"] - train["joints3d_univ"][:, 14:15]
    np.testing.assert_allclose(rel, urel * SCALE, rtol=1e-4, atol=1e-2)


def test_images_masks_intrinsics(built):
    out, _, train, val, _ = built
    from PIL import Image
    assert train["image"][0] == "images/train/S1/Seq1/h32/video_0/img_000001.jpg"
    assert Image.open(out / "mpi3dhp" / train["image"][0]).size == (32, 32)
    short = (train["camera"] == 1) & (train["frame"] >= 6)  # camera 1's mask video has 6 frames only
    assert set(train["fg_mask"][short]) == {""}
    assert all((out / "mpi3dhp" / p).is_file() for p in train["fg_mask"][~short])
    assert set(val["fg_mask"]) == {""}
    assert train.attrs["intrinsics_ok"] in (True, 1)
    np.testing.assert_allclose(train["intrinsics"][0], np.array([FX, FY, CX, CY]) * 32 / 2048, rtol=1e-4)


def test_select_frames_motion_and_stride():
    univ = np.zeros((6, 17, 3))
    univ[:, 0, 0] = [0, 150, 210, 300, 420, 430]
    j2 = np.full((6, 17, 2), 10.0)
    j2[5, 3] = 100  # outside a 64 x 64 image
    np.testing.assert_array_equal(select_frames(univ, j2, (64, 64), None, 200.0), [0, 2, 4])
    np.testing.assert_array_equal(select_frames(univ, j2, (64, 64), 2, None), [0, 2, 4])


def test_bad_inputs(tmp_path):
    p = tmp_path / "annot.mat"
    scipy.io.savemat(p, {"annot2": np.zeros((3, 56))})
    with pytest.raises(MatFileError, match="14 x 1 cell"):
        read_train_annotations(p)
    cal = tmp_path / "camera.calibration"
    write_calibration(cal, 2)
    assert set(read_camera_calibration(cal)) == {0, 1}
    cal.write_text(cal.read_text().replace(f"{FX} 0 {CX}", f"{FX} 0"))
    with pytest.raises(CalibrationError, match="camera.calibration:6: intrinsic has 15 values, expected 16"):
        read_camera_calibration(cal)
    (tmp_path / "TS1").mkdir()
    with pytest.raises(Mpi3dhpError, match="test set"):
        prepare_train(tmp_path, tmp_path / "out", progress=False)


@pytest.fixture(scope="module")
def lookalike_train(tmp_path_factory):
    import json

    from posebench.sample.mpi3dhp import write_tree
    src = tmp_path_factory.mktemp("look_train")
    write_tree(src, seed=1, split="train")
    out = tmp_path_factory.mktemp("look_train_out")
    train, val = prepare_train(src, out, height=64, jobs=1, progress=False, echo=lambda s: None)
    return src, json.loads((src / "posebench-sample.json").read_text()), read_prepared(train), read_prepared(val)


def test_lookalike_train(lookalike_train):
    src, meta, train, val = lookalike_train
    assert set(train["sequence"]) == {"S3/Seq1"} and set(val["sequence"]) == {"S4/Seq1"}  # S4/Seq1 is validation
    assert sorted(set(train["camera"])) == [0, 1, 2, 4, 5, 6, 7, 8]
    for data in (train, val):
        seq = data["sequence"][0]
        m = meta["train"][seq]
        np.testing.assert_allclose(data["univ_scale"], m["univ_scale"], rtol=1e-6)
        ann = read_train_annotations(src / seq / "annot.mat")
        for c in (0, 5):
            rows = data["camera"] == c
            f = data["frame"][rows]
            assert f.max() < m["video_frames"][str(c)]  # surplus annotation rows never used
            np.testing.assert_allclose(data["joints3d"][rows], ann["annot3"][c][f][:, MAP_28_TO_17], rtol=1e-6)
            cam = m["cameras"][str(c)]
            s = 64 / m["size"][1]
            np.testing.assert_allclose(data["intrinsics"][rows][0], np.array([cam[k] for k in ("fx", "fy", "cx", "cy")]) * s,
                                       rtol=1e-3)
        # motion rule: consecutive kept frames of a camera differ by >= 200 mm at some joint
        rows = np.flatnonzero(data["camera"] == 0)
        u = data["joints3d_univ"][rows]
        assert (np.linalg.norm(np.diff(u, axis=0), axis=-1).max(axis=1) >= 200 - 1e-3).all()
    s3 = meta["train"]["S3/Seq1"]
    assert train.attrs["extra_annotation_rows"]["S3_Seq1_c0"] == s3["rows"] - s3["video_frames"]["0"] == 1
    assert train.attrs["intrinsics_ok"] in (True, 1) and val.attrs["intrinsics_ok"] in (True, 1)


def test_short_s6_seq2_camera2_excluded(tmp_path):
    build_sequence(tmp_path / "src" / "S6" / "Seq2", 6, 6, np.random.default_rng(5), masks=False)
    lines: list[str] = []
    (train,) = prepare_train(tmp_path / "src", tmp_path / "out", cameras=(0, 2), height=0, stride=2,
                             progress=False, echo=lines.append)
    data = read_prepared(train)
    assert set(data["camera"]) == {0} and data["frame"].tolist() == [0, 2, 4]
    assert "S6/Seq2/video_2" in data.attrs["excluded"] and "3911" in data.attrs["excluded"]["S6/Seq2/video_2"]
    assert "S4/Seq2" in data.attrs["known_faults"]
    assert any(line.startswith("val: no sequences present") for line in lines)
    assert not (tmp_path / "out" / "mpi3dhp" / ".shards").exists()


def test_flash_frames_are_dropped(tmp_path):
    """A blown-out frame (a camera flash) is not kept, as in the reference preprocessing; its neighbours are."""
    from posebench.prepare.mpi3dhp_train import is_flash

    assert is_flash(np.full((4, 3), 255)) and not is_flash(np.full((4, 3), 250))
    src = tmp_path / "src"
    build_sequence(src / "S2" / "Seq1", 30, 30, np.random.default_rng(3), masks=False)
    # write_video's frame 25 is grey level 250-254 everywhere: a flash; every other frame is darker.
    (train,) = prepare_train(src, tmp_path / "out", cameras=(0,), height=0, stride=1, jobs=1, progress=False,
                             subjects=(2,), echo=lambda *a: None)  # no validation sequence: train.h5 only
    data = read_prepared(train)
    assert 25 not in set(data["frame"]) and {24, 26} <= set(data["frame"]) and len(data) == 29
    assert data.attrs["flash_frames"] == {"S2_Seq1_c0": [25]}
    assert not (tmp_path / "out" / "mpi3dhp" / data["image"][0]).parent.joinpath("img_000026.jpg").exists()

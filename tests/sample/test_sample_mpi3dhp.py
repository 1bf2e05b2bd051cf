"""Look-alike MPI-INF-3DHP trees read back by independent libraries (SciPy, h5py, PyAV, Pillow), with
geometry checked against the calibration files as written (parsed here, not through the writer)."""
from __future__ import annotations

import json
from pathlib import Path

import av
import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from posebench.sample import mpi3dhp as M
from posebench.sample import mpi3dhp_calib as K
from posebench.sample import mpi3dhp_train as T
from posebench.sample.body import PARTS
from posebench.sample.render import part_of
from posebench.skeleton import knee_neck_length



TS = [f"TS{k}" for k in range(1, 7)]


def _write(tmp_path_factory, name, **kw):
    out = tmp_path_factory.mktemp(name)
    meta = M.write_tree(out, seed=1, **kw)
    return out, meta


@pytest.fixture(scope="session")
def tree(tmp_path_factory):
    return _write(tmp_path_factory, "mpi_orig", labels="original")


@pytest.fixture(scope="session")
def tree_again(tmp_path_factory):
    return _write(tmp_path_factory, "mpi_again", labels="original")


@pytest.fixture(scope="session")
def corrected(tmp_path_factory):
    return _write(tmp_path_factory, "mpi_corr", labels="corrected", split="test")


@pytest.fixture(scope="session")
def identity920(tmp_path_factory):
    return _write(tmp_path_factory, "mpi_920", labels="corrected", split="test", knee_neck=920, rigid_spine=True)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _parse_skeletool(path: Path) -> list[dict]:
    """camera.calibration as MMPose/SPIN read it: fixed 7-line blocks, numbers from column 11 to the
    trailing space."""
    lines = path.read_text().split("\n")
    assert lines[0] == "Skeletool Camera Calibration File V1.0"
    cams = []
    for c in range(14):
        block = [ln + "\n" for ln in lines[7 * c + 1: 7 * c + 8]]
        assert block[0] == f"name          {c}\n" and block[6] == "  radial      0\n"
        k = np.array(block[4][11:-2].split(), float).reshape(4, 4)
        e = np.array(block[5][11:-2].split(), float).reshape(4, 4)
        assert block[4].endswith(" \n") and "  " not in block[4][14:]
        cams.append({"K": k, "R": e[:3, :3], "t": e[:3, 3], "size": tuple(map(int, block[2].split()[1:]))})
    return cams


def _parse_tc(path: Path) -> dict:
    """A "tc camera calibration v0.3" file -> its numeric fields (tab-separated key, values)."""
    text = path.read_text()
    assert text.startswith("tc camera calibration v0.3\ncamera\t0\t")
    vals = {}
    for line in text.splitlines():
        parts = [p for p in line.split("\t") if p.strip()]
        if parts and parts[0] in ("sensorSize", "focalLength", "pixelAspect", "centerOffset", "distortion",
                                  "origin", "up", "right"):
            nums = [float(x) for p in parts[1:] if not p.startswith("#") for x in p.split()]
            vals[parts[0]] = nums
    return vals


def _project_opencv(p: np.ndarray, fx, fy, cx, cy, d) -> np.ndarray:
    """OpenCV's model, distortion (k1, k2, p1, p2, k3), written out here independently of the writer."""
    x, y = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]
    k1, k2, p1, p2, k3 = d
    r2 = x * x + y * y
    rad = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    xd = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([fx * xd + cx, fy * yd + cy], -1)


def test_tc_writer_reproduces_the_official_files(testdata):
    for name, cam, gopro in (("ts1-4cameras.calib", K.TS1_4_CAMERA, False),
                             ("ts5-6cameras.calib", K.TS5_6_CAMERA, True)):
        official = (testdata / "mpi3dhp" / name).read_text()
        assert K.tc_calibration_text(cam, gopro=gopro) == official, name


def test_official_calibration_gives_the_documented_intrinsics():
    fx, fy, cx, cy = K.TS1_4_CAMERA.intrinsics(2048, 2048)
    np.testing.assert_allclose([fx, fy, cx, cy], [1500.172, 1500.83, 1017.387, 1043.032], atol=0.01)
    fx, _, cx, cy = K.TS5_6_CAMERA.intrinsics(1920, 1080)
    np.testing.assert_allclose([fx, cx, cy], [1683.983, 939.858, 560.141], atol=0.01)


# --- training tree -------------------------------------------------------------------------------
def test_train_annot_mat_as_scipy_reads_it(tree):
    root, meta = tree
    assert sorted(meta["train"]) == ["S3/Seq1", "S4/Seq1"]
    for key, m in meta["train"].items():
        d = scipy.io.loadmat(root / key / "annot.mat")
        for name, k in (("annot2", 56), ("annot3", 84), ("univ_annot3", 84)):
            assert d[name].shape == (14, 1) and d[name].dtype == object
            assert all(d[name][c, 0].shape == (m["rows"], k) and d[name][c, 0].dtype == np.float64 for c in range(14))
        np.testing.assert_array_equal(d["cameras"], np.arange(14)[None])
        np.testing.assert_array_equal(d["frames"], np.arange(m["rows"])[:, None])
        sq = scipy.io.loadmat(root / key / "annot.mat", squeeze_me=True)
        assert np.stack(sq["annot2"]).shape == (14, m["rows"], 56)
    # S3/Seq1 has one annotation row more than its videos have frames, as the real one does.
    m = meta["train"]["S3/Seq1"]
    assert m["rows"] == m["mask_frames"] + 1 and set(m["video_frames"].values()) == {m["rows"] - 1}


def test_train_geometry_matches_the_calibration_file(tree):
    root, meta = tree
    for key, m in meta["train"].items():
        cams = _parse_skeletool(root / key / "camera.calibration")
        d = scipy.io.loadmat(root / key / "annot.mat")
        world = []
        for c, cam in enumerate(cams):
            assert cam["size"] == (128, 128)
            a3 = d["annot3"][c, 0].reshape(-1, 28, 3)
            a2 = d["annot2"][c, 0].reshape(-1, 28, 2)
            k = cam["K"]
            proj = _project_opencv(a3, k[0, 0], k[1, 1], k[0, 2], k[1, 2], (0, 0, 0, 0, 0))
            assert np.abs(proj - a2).max() < 1e-6  # annot3 projects onto annot2 by intrinsics alone
            assert (a3[..., 2] > 500).all()
            world.append((a3 - cam["t"]) @ cam["R"])  # camera -> world: R^T (X - t)
        spread = np.ptp(np.stack(world), axis=0)
        assert spread.max() < 2.0  # every camera sees the same world pose (mm, after 7-digit rounding)
        # y-up world as the real rigs': the pelvis is 0.6-1.3 m above the lowest foot.
        w = world[0]
        assert ((w[:, 4, 1] - w[..., 1].min(1)) > 300).all()


def test_train_univ_is_a_per_sequence_rescale_about_the_pelvis(tree):
    root, meta = tree
    for key, m in meta["train"].items():
        d = scipy.io.loadmat(root / key / "annot.mat")
        for c in range(14):
            a3 = d["annot3"][c, 0].reshape(-1, 28, 3)
            u3 = d["univ_annot3"][c, 0].reshape(-1, 28, 3)
            np.testing.assert_allclose(u3[:, 4], a3[:, 4], atol=1e-9)
            np.testing.assert_allclose(u3 - u3[:, 4:5], (a3 - a3[:, 4:5]) * m["univ_scale"], atol=1e-6)
        assert abs(m["univ_scale"] - 1) > 0.01


def test_train_videos_and_masks_decode(tree):
    root, meta = tree
    for key, m in meta["train"].items():
        assert sorted(int(c) for c in m["video_frames"]) == list(T.VNECT_CAMERAS)
        assert not (root / key / "imageSequence" / "video_3.avi").exists()  # not in the VNect download
        for c, n in m["video_frames"].items():
            frames = _decode(root / key / "imageSequence" / f"video_{c}.avi")
            assert frames.shape == (n, 128, 128, 3) and frames.dtype == np.uint8
            fg = _decode(root / key / "FGmasks" / f"video_{c}.avi")
            chair = _decode(root / key / "ChairMasks" / f"video_{c}.avi")
            assert fg.shape == chair.shape == (m["mask_frames"], 128, 128, 3)
    # The FG mask is dark (R) on the person where the 2D joints are, and bright elsewhere.
    key = "S4/Seq1"
    d = scipy.io.loadmat(root / key / "annot.mat")
    fg = _decode(root / key / "FGmasks" / "video_0.avi")
    uv = d["annot2"][0, 0].reshape(-1, 28, 2)[: len(fg)].round().astype(int)
    ok = (uv >= 0).all(-1) & (uv < 128).all(-1)
    f_idx = np.broadcast_to(np.arange(len(fg))[:, None], ok.shape)
    at_joints = fg[f_idx[ok], uv[ok][:, 1], uv[ok][:, 0], 0]
    assert (at_joints < 128).mean() > 0.9 and fg[..., 0].mean() > 200


def _parts_at(img: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Body part shown at rounded pixel positions uv (..., 2) of frames img (N, H, W, 3); -1 outside."""
    h, w = img.shape[1:3]
    xy = np.round(uv).astype(int)
    inside = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h)
    xy = np.clip(xy, 0, [w - 1, h - 1])
    idx = np.broadcast_to(np.arange(len(img)).reshape((-1,) + (1,) * (uv.ndim - 2)), uv.shape[:-1])
    return np.where(inside, part_of(img[idx, xy[..., 1], xy[..., 0]]), -1)


# (joint a, joint b, part) in the 28-joint order: the midpoints of these bones lie on that body part.
BONES28 = ((3, 5, "torso"), (18, 19, "left_leg"), (23, 24, "right_leg"))


def _check_parts(parts: np.ndarray, background: np.ndarray) -> None:
    """parts (N, len(BONES28)) at bone midpoints: mostly the bone's own colour, and right/left not swapped."""
    for k, (_, _, name) in enumerate(BONES28):
        assert (parts[:, k] >= 0).mean() > 0.75, name  # the person is there (limbs ~1-3 px wide)
        assert (parts[:, k] == PARTS.index(name)).mean() > 0.6, name  # ... with the right body part
    assert (parts[:, 1] == PARTS.index("right_leg")).mean() < 0.2  # left thigh not drawn as right
    assert (background >= 0).mean() < 0.05  # far from the person: no body colours


def test_rendered_training_frames_show_the_person_at_the_joints(tree):
    root, meta = tree
    d = scipy.io.loadmat(root / "S4/Seq1" / "annot.mat")
    parts, bg = [], []
    for c in T.VNECT_CAMERAS:
        frames = _decode(root / "S4/Seq1" / "imageSequence" / f"video_{c}.avi")
        j = d["annot2"][c, 0].reshape(-1, 28, 2)[: len(frames)]
        mids = np.stack([0.5 * (j[:, a] + j[:, b]) for a, b, _ in BONES28], 1)
        parts.append(_parts_at(frames, mids))
        far = j.mean(1, keepdims=True) + np.array([[[60.0, 0.0], [-60.0, 0.0]]])  # 60 px to the sides
        bg.append(_parts_at(frames, far).ravel())
    _check_parts(np.concatenate(parts), np.concatenate(bg))


# --- test set ---------------------------------------------------------------------------------------
def test_annot_data_is_v73_scipy_refuses_h5py_reads(tree):
    root, meta = tree
    troot = root / "mpi_inf_3dhp_test_set"
    acts = set()
    for ts in TS:
        path = troot / ts / "annot_data.mat"
        with pytest.raises(NotImplementedError, match="HDF reader for matlab v7.3"):
            scipy.io.loadmat(path)
        assert path.read_bytes()[:10] == b"MATLAB 7.3"
        m = meta["test"][ts]
        n = m["rows"]
        with h5py.File(path, "r") as f:
            assert f.userblock_size == 512
            shapes = {k: f[k].shape for k in f}
            assert shapes == {"annot2": (n, 1, 17, 2), "annot3": (n, 1, 17, 3), "univ_annot3": (n, 1, 17, 3),
                              "valid_frame": (n, 1), "activity_annotation": (n, 1)}
            assert all(f[k].attrs["MATLAB_class"] == b"double" and f[k].dtype == np.float64 for k in f)
            assert f["annot2"][0, 0].shape == (17, 2)
            act = f["activity_annotation"][:, 0]
            valid = f["valid_frame"][:, 0]
        assert set(np.unique(valid)) <= {0.0, 1.0} and valid.sum() == m["valid"]
        assert set(act) <= set(range(1, 8))
        acts |= set(act.astype(int))
        images = sorted((troot / ts / "imageSequence").iterdir())
        assert [p.name for p in images] == [f"img_{i:06d}.jpg" for i in range(1, m["images"] + 1)]
        assert m["images"] - n == {"TS3": 1, "TS4": 2}.get(ts, 0)
        with Image.open(images[0]) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and list(im.size) == m["size"]
        assert m["size"] == ([128, 128] if ts in TS[:4] else [128, 72])
    assert acts == set(range(1, 8))


def test_test_annot3_projects_onto_annot2_with_the_written_calibration(tree):
    root, meta = tree
    troot = root / "mpi_inf_3dhp_test_set"
    for ts in TS:
        m = meta["test"][ts]
        calib = _parse_tc(troot / m["calibration"])
        w, h = m["size"]
        fx = calib["focalLength"][0] / calib["sensorSize"][0] * w
        fy = fx * calib["pixelAspect"][0]
        cx = w / 2 + calib["centerOffset"][0] / calib["sensorSize"][0] * w
        cy = h / 2 + calib["centerOffset"][1] / calib["sensorSize"][1] * h
        np.testing.assert_allclose([fx, fy, cx, cy], [m["intrinsics"][k] for k in ("fx", "fy", "cx", "cy")], rtol=1e-12)
        with h5py.File(troot / ts / "annot_data.mat", "r") as f:
            a2, a3 = f["annot2"][:, 0], f["annot3"][:, 0]
        proj = _project_opencv(a3, fx, fy, cx, cy, calib["distortion"])
        assert np.abs(proj - a2).max() < 1e-3, ts
        if ts in ("TS5", "TS6"):  # the lens distortion is really there: without it the fit is off
            assert np.abs(_project_opencv(a3, fx, fy, cx, cy, (0,) * 5) - a2).max() > 0.3
        # the calibration's pose is the camera the world poses were seen from (up/right orthonormal)
        up, right = np.array(calib["up"]), np.array(calib["right"])
        assert abs(up @ right) < 1e-6 and abs(np.linalg.norm(up) - 1) < 1e-6


def test_test_univ_is_rescaled_annot3(tree, corrected):
    for (root, meta), labels in ((tree, "original"), (corrected, "corrected")):
        for ts in TS:
            m = meta["test"][ts]
            with h5py.File(root / "mpi_inf_3dhp_test_set" / ts / "annot_data.mat", "r") as f:
                a3, u3 = f["annot3"][:, 0], f["univ_annot3"][:, 0]
            np.testing.assert_allclose(u3[:, 14], a3[:, 14], atol=1e-9)  # about the pelvis: the root stays
            changed = m["label_differences"]["univ_only_joints_corrected"] if labels == "corrected" else []
            keep = [j for j in range(17) if j not in changed]
            rel, urel = a3 - a3[:, 14:15], u3 - u3[:, 14:15]
            np.testing.assert_allclose(urel[:, keep], rel[:, keep] * m["univ_scale"], atol=1e-6)
            if changed:
                assert np.abs(urel[:, changed] - rel[:, changed] * m["univ_scale"]).max() > 10
            assert not m["univ_scale_per_frame"]


def test_label_releases_differ_without_a_marker(tree, corrected):
    (ro, mo), (rc, mc) = tree, corrected
    for ts in TS:
        po = ro / "mpi_inf_3dhp_test_set" / ts
        pc = rc / "mpi_inf_3dhp_test_set" / ts
        assert _files(po / "imageSequence") == _files(pc / "imageSequence")  # same frames
        with h5py.File(po / "annot_data.mat", "r") as fo, h5py.File(pc / "annot_data.mat", "r") as fc:
            assert sorted(fo) == sorted(fc) and all(dict(fo[k].attrs) == dict(fc[k].attrs) for k in fo)
            assert dict(fo.attrs) == dict(fc.attrs)
            same = {k: np.array_equal(fo[k][()], fc[k][()]) for k in fo}
        expect_same = {"annot2": ts not in ("TS3", "TS4"), "annot3": ts not in ("TS3", "TS4"),
                       "univ_annot3": ts not in ("TS3", "TS4", "TS6"), "valid_frame": ts not in ("TS3", "TS4"),
                       "activity_annotation": True}
        assert same == expect_same, ts
        assert mc["test"][ts]["valid"] - mo["test"][ts]["valid"] == {"TS3": 3, "TS4": 3}.get(ts, 0)
        assert mo["test"][ts]["valid_by_release"] == mc["test"][ts]["valid_by_release"]
    assert (po.parent / "test_util/camera_calibration/ts1-4cameras.calib").read_bytes() == \
        (pc.parent / "test_util/camera_calibration/ts1-4cameras.calib").read_bytes()


def test_knee_neck_920_rigid_spine_makes_the_rule_an_identity(identity920, tree):
    root, meta = identity920
    assert meta["knee_neck"] == 920 and meta["rigid_spine"]
    for ts in TS:
        with h5py.File(root / "mpi_inf_3dhp_test_set" / ts / "annot_data.mat", "r") as f:
            u3 = f["univ_annot3"][:, 0]
        np.testing.assert_allclose(knee_neck_length(u3), 920.0, atol=1e-6)
        assert meta["test"][ts]["univ_scale_per_frame"]
    # the default universal skeleton is not 920 mm
    with h5py.File(tree[0] / "mpi_inf_3dhp_test_set" / "TS1" / "annot_data.mat", "r") as f:
        assert abs(knee_neck_length(f["univ_annot3"][:, 0]).mean() - 920) > 30


def test_rendered_test_frames_show_the_person_at_the_joints(tree):
    root, meta = tree
    parts, bg = [], []
    for ts in TS:
        with h5py.File(root / "mpi_inf_3dhp_test_set" / ts / "annot_data.mat", "r") as f:
            a2 = f["annot2"][:, 0]
        seq_dir = root / "mpi_inf_3dhp_test_set" / ts / "imageSequence"
        frames = np.stack([np.asarray(Image.open(seq_dir / f"img_{i + 1:06d}.jpg")) for i in range(len(a2))])
        # 17-joint order: spine(15)-neck(1) torso, l_hip(11)-l_knee(12), r_hip(8)-r_knee(9)
        mids = np.stack([0.5 * (a2[:, a] + a2[:, b]) for a, b in ((15, 1), (11, 12), (8, 9))], 1)
        parts.append(_parts_at(frames, mids))
        far = a2.mean(1, keepdims=True) + np.array([[[45.0, 0.0], [-45.0, 0.0]]])
        bg.append(_parts_at(frames, far).ravel())
    _check_parts(np.concatenate(parts), np.concatenate(bg))


def test_deterministic_for_a_seed(tree, tree_again, tmp_path):
    a, b = _files(tree[0]), _files(tree_again[0])
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    M.write_tree(tmp_path, seed=2, split="test")
    other = _files(tmp_path)
    assert other["mpi_inf_3dhp_test_set/TS1/annot_data.mat"] != a["mpi_inf_3dhp_test_set/TS1/annot_data.mat"]


def test_summary_json_records_the_generation(tree):
    root, meta = tree
    saved = json.loads((root / "posebench-sample.json").read_text())
    assert saved["seed"] == 1 and saved["labels"] == "original" and saved["knee_neck"] == meta["knee_neck"]
    assert {"seconds"} == set(meta) - set(saved)
    assert saved["test"]["TS5"]["distortion"] == list(K.TS5_6_CAMERA.distortion)
    assert saved["train"]["S3/Seq1"]["cameras"]["0"]["fx"] > 0


@pytest.mark.parametrize("kw, msg", [({"labels": "revised"}, "labels"), ({"split": "val"}, "split"),
                                     ({"size": 4}, "size"), ({"size": 127}, "even")])
def test_bad_arguments_are_one_line_errors(tmp_path, kw, msg):
    with pytest.raises(ValueError, match=msg):
        M.write_tree(tmp_path, **kw)


def test_full_tree_quirks_short_video_and_swapped_labels(tmp_path):
    """The --full tree's S6/Seq2 camera-2 video stops early and S4/Seq2 has a range of rows whose
    left/right labels are swapped (written here one small sequence each, as write_tree(full=True) does)."""
    rng = np.random.default_rng(0)
    s6 = T.write_train_sequence(tmp_path, 6, 2, rng, 32, 40, (1, 2), None, False, 0)
    assert s6["video_frames"] == {"1": 40, "2": round(40 * 3911 / 6145)}
    assert len(_decode(tmp_path / "S6/Seq2/imageSequence/video_2.avi")) == s6["video_frames"]["2"]
    assert len(_decode(tmp_path / "S6/Seq2/FGmasks/video_2.avi")) == 40
    s4 = T.write_train_sequence(tmp_path, 4, 2, rng, 32, 40, (0,), None, False, 0)
    lo, hi = s4["lr_swapped_rows"]
    assert 0 < lo < hi < 40 and s6["lr_swapped_rows"] is None
    a3 = scipy.io.loadmat(tmp_path / "S4/Seq2/annot.mat")["annot3"][0, 0].reshape(40, 28, 3)
    left, right = 18, 23  # left_hip, right_hip
    for edge in (lo, hi):  # at both edges the left label jumps onto where the right one was
        jump = np.linalg.norm(a3[edge, left] - a3[edge - 1, left])
        assert np.linalg.norm(a3[edge, left] - a3[edge - 1, right]) < jump / 2
    inside = np.linalg.norm(a3[lo + 1:hi, left] - a3[lo:hi - 1, left], axis=-1)
    assert inside.max() < jump / 2  # ... and moves smoothly in between


def test_rewriting_a_tree_leaves_no_stale_files(tmp_path):
    M.write_tree(tmp_path, seed=4, split="test")
    stale = [tmp_path / "mpi_inf_3dhp_test_set/TS1/imageSequence/img_000999.jpg", tmp_path / "S5/Seq1/annot.mat"]
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"old")
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    M.write_tree(tmp_path, seed=4, split="all")
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"
    assert sorted(p.parent.relative_to(tmp_path).as_posix() for p in tmp_path.glob("S*/Seq*/annot.mat")) == \
        ["S3/Seq1", "S4/Seq1"]


def test_sitting_segments_get_a_chair_in_frames_and_chair_masks(tmp_path):
    rng = np.random.default_rng([1, 1, 1])  # this draw gives S1/Seq1 a "Sitting" segment then "Sports"
    m = T.write_train_sequence(tmp_path, 1, 1, rng, 64, 24, (0, 2), None, False, 1)
    assert 3 in m["activities"] and 0 < m["chair_frames"] < 24
    seq = tmp_path / "S1/Seq1"
    chair_any = np.zeros(24, bool)
    for c in (0, 2):
        chair = _decode(seq / "ChairMasks" / f"video_{c}.avi")[..., 0] < 128
        fg_person = _decode(seq / "FGmasks" / f"video_{c}.avi")[..., 0] < 128
        frames = _decode(seq / "imageSequence" / f"video_{c}.avi").astype(float)
        chair_any |= chair.any((1, 2))
        assert (chair & fg_person).sum() < 0.1 * chair.sum()  # the chair shows where the person does not
        shown = frames[chair]
        assert np.abs(shown.mean(0) - T._CHAIR_COLOURS.mean(0)).max() < 25  # chair-brown pixels in the frames
    assert chair_any.sum() == m["chair_frames"]

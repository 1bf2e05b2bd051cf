"""The look-alike Human3.6M tree, read back with cdflib and PyAV and checked against metadata.xml."""
from __future__ import annotations

import json
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import cdflib
import numpy as np
import pytest
from click.testing import CliRunner

from posebench.sample import cameras as C
from posebench.sample import h36m
from posebench.sample import render as R
from posebench.cli.sample import sample as sample_cmd
from posebench.sample.poses import PARTS

CAMS = ("54138969", "55011271", "58860488", "60457274")
KINDS = {"D3_Positions": 96, "D3_Positions_mono": 96, "D3_Positions_mono_universal": 96, "D2_Positions": 64}
# 32-joint indices (metadata.xml skel_pos names) of the 920 mm rule's joints.
HIPS, L_UPLEG, L_LEG, SPINE1, NECK, HEAD = 0, 6, 7, 12, 13, 14


@pytest.fixture(scope="module")
def meta(testdata):
    """Facts parsed from the official metadata.xml, independently of posebench.sample.cameras."""
    root = ET.parse(testdata / "h36m" / "metadata.xml").getroot()
    rows = [[td.text for td in tr] for tr in root.find("mapping").findall("tr")]
    names = {s: {r[2 + s - 1] for r in rows[3:33]} for s in range(1, 12)}
    w0 = np.array(root.find("w0").text.strip("[] \n").split(), dtype=float)
    actions = [it.text for it in root.find("actionnames").findall("item")]
    return {"names": names, "w0": w0, "rows": rows, "actions": actions}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("h36m")
    summary = h36m.write_tree(out, seed=3)
    return out, summary


@pytest.fixture(scope="module")
def rigid_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("h36m-rigid")
    return out, h36m.write_tree(out, seed=4, subjects=["S9"], n_frames=65, size=48, gop=20,
                                knee_neck=920, rigid_spine=True)


def _pose(path: Path) -> np.ndarray:
    return cdflib.CDF(path).varget("Pose")


def _feature(out: Path, subject: str, kind: str, seq: str, cam: str | None = None) -> np.ndarray:
    name = f"{seq}.cdf" if cam is None else f"{seq}.{cam}.cdf"
    return _pose(out / subject / "MyPoseFeatures" / kind / name)


def _w0_camera(meta, subject: int, cam: str):
    c = CAMS.index(cam)
    a, t = meta["w0"][6 * (c * 11 + subject - 1):][:3], meta["w0"][6 * (c * 11 + subject - 1):][3:6]
    cx, sx, cy, sy, cz, sz = np.cos(a[0]), np.sin(a[0]), np.cos(a[1]), np.sin(a[1]), np.cos(a[2]), np.sin(a[2])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    intr = meta["w0"][264 + 9 * c:][:9]
    return rx @ ry @ rz, t, intr


def _project(p: np.ndarray, fx, fy, cx, cy, k1, k2, k3, p1, p2) -> np.ndarray:
    x, y = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]
    r2 = x * x + y * y
    rad = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([fx * xd + cx, fy * yd + cy], -1)


def test_camera_and_name_constants_match_metadata(meta):
    np.testing.assert_array_equal(np.asarray(C.W0), meta["w0"])
    assert C.ACTIONS == tuple(meta["actions"][1:])
    for s in C.SUBJECTS:
        assert [name for _, _, name in C.sequences(s)] == [r[2 + s - 1] for r in meta["rows"][3:33]]
        assert [(int(r[0]), int(r[1])) for r in meta["rows"][3:33]] == [
            (C.ACTIONS.index(a) + 2, sub) for a, sub, _ in C.sequences(s)]
    sizes = meta["rows"][34][2].strip("[]").split(";")  # per camera [h w] (S1 column)
    for cam, hw in zip(C.CAMERAS, sizes):
        h, w = (int(v) for v in hw.split())
        assert C.VIDEO_SIZE[cam] == (w, h)


def test_layout_and_official_names(tree, meta):
    out, summary = tree
    assert set(summary["subjects"]) == {"S1", "S9", "S11"}
    assert "TakingPhoto" in summary["subjects"]["S1"]["sequences"]  # the S1 quirk
    assert summary["subjects"]["S1"]["sequences"]["SittingDown 2"]["subaction"] == 1  # digit != subaction
    for subject, entry in summary["subjects"].items():
        assert set(entry["sequences"]) <= meta["names"][int(subject[1:])]
        for seq in entry["sequences"]:
            assert (out / subject / "MyPoseFeatures" / "D3_Positions" / f"{seq}.cdf").is_file()
            for cam in CAMS:
                for kind in ("D3_Positions_mono", "D3_Positions_mono_universal", "D2_Positions"):
                    assert (out / subject / "MyPoseFeatures" / kind / f"{seq}.{cam}.cdf").is_file()
                assert (out / subject / "Videos" / f"{seq}.{cam}.mp4").is_file()
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*"))
    assert json.loads((out / "posebench-sample.json").read_text())["seed"] == 3
    assert summary["seconds"] < 60  # a few seconds on a quiet machine


def test_cdf_shapes_and_dtypes(tree):
    out, summary = tree
    for subject, entry in summary["subjects"].items():
        for seq, info in entry["sequences"].items():
            n = info["frames"]
            assert n >= 65  # every-64th-frame selection takes two frames
            for kind, k in KINDS.items():
                for cam in (None,) if kind == "D3_Positions" else CAMS:
                    pose = _feature(out, subject, kind, seq, cam)
                    assert pose.shape == (1, n, k) and pose.dtype == np.float64


def test_mono_is_world_under_extrinsics(tree, meta):
    out, summary = tree
    for subject, entry in summary["subjects"].items():
        for seq in entry["sequences"]:
            world = _feature(out, subject, "D3_Positions", seq)[0].reshape(-1, 32, 3)
            assert world[..., 2].min() >= 0  # z up, on or above the floor
            for cam in CAMS:
                rot, centre, _ = _w0_camera(meta, int(subject[1:]), cam)
                written = entry["extrinsics"][cam]
                np.testing.assert_allclose(written["R"], rot, atol=1e-12)
                np.testing.assert_allclose(written["T"], centre, atol=1e-9)
                mono = _feature(out, subject, "D3_Positions_mono", seq, cam)[0].reshape(-1, 32, 3)
                np.testing.assert_allclose(mono, (world - centre) @ rot.T, atol=1e-6)
                assert (mono[..., 2] > 2000).all()  # in front of the camera, metres away


def test_d2_is_the_projection_subpixel(tree, meta):
    out, summary = tree
    for cam in CAMS:
        info = summary["cameras"][cam]
        _, _, full = _w0_camera(meta, 1, cam)
        sx, sy = info["width"] / 1000, info["height"] / (1002 if cam in ("54138969", "60457274") else 1000)
        np.testing.assert_allclose(info["intrinsics"], full[:4] * [sx, sy, sx, sy], rtol=1e-12)
        np.testing.assert_allclose(info["distortion"], full[4:], rtol=1e-12)
    residuals = []
    for subject, entry in summary["subjects"].items():
        for seq in entry["sequences"]:
            for cam in CAMS:
                info = summary["cameras"][cam]
                mono = _feature(out, subject, "D3_Positions_mono", seq, cam)[0].reshape(-1, 32, 3)
                d2 = _feature(out, subject, "D2_Positions", seq, cam)[0].reshape(-1, 32, 2)
                np.testing.assert_allclose(d2, _project(mono, *info["intrinsics"], *info["distortion"]), atol=1e-6)
                # A distortion-free least-squares fit (what preparers do) lands within a pixel; its fx is
                # a few % low off-centre, where k1 < 0 flattens the local slope (as on the real data).
                a = np.stack([mono[..., 0] / mono[..., 2], np.ones_like(mono[..., 0])], -1).reshape(-1, 2)
                (fx, cx), *_ = np.linalg.lstsq(a, d2[..., 0].ravel(), rcond=None)
                residuals.append(np.abs(a @ [fx, cx] - d2[..., 0].ravel()).max())
                assert fx == pytest.approx(info["intrinsics"][0], rel=0.1)
    assert max(residuals) < 1.0


def test_universal_is_rescaled_mono(tree):
    out, summary = tree
    for subject, entry in summary["subjects"].items():
        for seq in entry["sequences"]:
            for cam in CAMS:
                mono = _feature(out, subject, "D3_Positions_mono", seq, cam)[0].reshape(-1, 32, 3)
                univ = _feature(out, subject, "D3_Positions_mono_universal", seq, cam)[0].reshape(-1, 32, 3)
                rel_m, rel_u = mono - mono[:, :1], univ - univ[:, :1]
                np.testing.assert_allclose(univ[:, 0], mono[:, 0], atol=1e-6)  # same pelvis
                scale = (rel_u * rel_m).sum() / (rel_m * rel_m).sum()
                np.testing.assert_allclose(rel_u, scale * rel_m, atol=1e-6)  # one scale per sequence
                kn = (np.linalg.norm(univ[:, L_LEG] - univ[:, L_UPLEG], axis=-1)
                      + np.linalg.norm(univ[:, SPINE1] - univ[:, HIPS], axis=-1)
                      + np.linalg.norm(univ[:, NECK] - univ[:, SPINE1], axis=-1))
                assert kn.mean() == pytest.approx(summary["knee_neck"]) and summary["knee_neck"] != 920


def test_rigid_spine_makes_the_920_rule_an_identity(rigid_tree):
    out, summary = rigid_tree
    for seq in summary["subjects"]["S9"]["sequences"]:
        univ = _feature(out, "S9", "D3_Positions_mono_universal", seq, CAMS[0])[0].reshape(-1, 32, 3)
        kn = (np.linalg.norm(univ[:, L_LEG] - univ[:, L_UPLEG], axis=-1)
              + np.linalg.norm(univ[:, SPINE1] - univ[:, HIPS], axis=-1)
              + np.linalg.norm(univ[:, NECK] - univ[:, SPINE1], axis=-1))
        np.testing.assert_allclose(kn, 920.0, atol=1e-6)


def _decode(path: Path) -> tuple[list[np.ndarray], list[int], av.video.stream.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, keys = [], []
        for i, frame in enumerate(container.decode(stream)):
            frames.append(frame.to_ndarray(format="rgb24"))
            if frame.key_frame:
                keys.append(i)
        return frames, keys, stream


def test_videos_decode_longer_than_poses(tree, rigid_tree):
    out, summary = tree
    for subject, entry in summary["subjects"].items():
        for seq, info in entry["sequences"].items():
            for cam in CAMS:
                path = out / subject / "Videos" / f"{seq}.{cam}.mp4"
                if f"{subject}/Videos/{seq}.{cam}.mp4" in summary["corrupt"]:
                    continue
                frames, keys, stream = _decode(path)
                assert stream.codec_context.name == "h264" and stream.average_rate == 50
                assert len(frames) == info["video_frames"][cam] > info["frames"]
                assert frames[0].shape == (summary["cameras"][cam]["height"], summary["cameras"][cam]["width"], 3)
                assert keys == [0]  # default key-frame spacing 250 > length
    out, summary = rigid_tree
    _, keys, _ = _decode(out / "S9" / "Videos" / f"{next(iter(summary['subjects']['S9']['sequences']))}.{CAMS[1]}.mp4")
    assert keys == [0, 20, 40, 60]


def test_corrupt_s11_directions_video(tree):
    out, summary = tree
    assert summary["corrupt"] == ["S11/Videos/Directions.54138969.mp4"]
    with pytest.raises(av.error.FFmpegError):
        _decode(out / summary["corrupt"][0])
    assert len(_decode(out / "S11" / "Videos" / "Directions.55011271.mp4")[0]) > 65


def _nearest_part(rgb: np.ndarray) -> str:
    ref = np.array([R.PART_COLOURS[p] for p in PARTS], dtype=float)
    ref /= ref.sum(1, keepdims=True)
    c = rgb.astype(float) / max(float(rgb.sum()), 1.0)
    return PARTS[int(np.linalg.norm(c - ref, axis=-1).argmin())]


def test_video_frames_show_parts_at_d2_joints(tree):
    out, summary = tree
    checks = {HEAD: "head", SPINE1: "torso"}  # large parts survive 4:2:0 chroma at 128 px
    hits = total = 0
    for seq in ("Directions 1", "Greeting"):
        for cam in CAMS:
            frames, _, _ = _decode(out / "S9" / "Videos" / f"{seq}.{cam}.mp4")
            d2 = _feature(out, "S9", "D2_Positions", seq, cam)[0].reshape(-1, 32, 2)
            for i in range(0, len(d2), 8):
                for j, part in checks.items():
                    u, v = np.floor(d2[i, j]).astype(int)
                    if 0 <= v < frames[i].shape[0] and 0 <= u < frames[i].shape[1]:
                        total += 1
                        hits += _nearest_part(frames[i][v, u]) == part
    assert total > 100 and hits / total > 0.8, (hits, total)


def test_deterministic_for_a_seed(tmp_path, tree):
    out, summary = tree
    again = h36m.write_tree(tmp_path, seed=3, subjects=[9])  # a subset equals the same files of the tree
    assert again["subjects"]["S9"] == summary["subjects"]["S9"]
    for path in sorted((tmp_path / "S9").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (out / path.relative_to(tmp_path)).read_bytes(), path


def test_bad_requests_are_one_line_errors(tmp_path):
    with pytest.raises(h36m.SampleError, match="S2 is not in the released set"):
        h36m.write_tree(tmp_path, subjects=["S2"])
    result = CliRunner().invoke(sample_cmd, ["h36m", "--out", str(tmp_path / "x"), "--size", "7"])
    assert result.exit_code != 0 and "Error: --size must be an even width" in result.output
    assert "Traceback" not in result.output


def test_cli_dispatches_to_each_writer(tmp_path, monkeypatch):
    calls = {}

    def recorder(name):
        def write_tree(out, **kw):
            calls[name] = kw
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / "x").write_text("x")
            return {"seconds": 0.0}
        return write_tree

    monkeypatch.setattr(h36m, "write_tree", recorder("h36m"))
    for name in ("mpi3dhp", "mpii"):
        monkeypatch.setitem(sys.modules, f"posebench.sample.{name}",
                            types.SimpleNamespace(write_tree=recorder(name)))
    runner = CliRunner()
    assert runner.invoke(sample_cmd, ["h36m", "--out", str(tmp_path / "a"), "--knee-neck", "920",
                                      "--rigid-spine", "--gop", "10", "--seed", "2"]).exit_code == 0
    assert calls["h36m"] == {"seed": 2, "full": False, "gop": 10, "knee_neck": 920.0, "rigid_spine": True}
    assert runner.invoke(sample_cmd, ["mpi3dhp", "--out", str(tmp_path / "b"), "--labels", "original",
                                      "--split", "test", "--size", "64"]).exit_code == 0
    assert calls["mpi3dhp"] == {"seed": 0, "full": False, "size": 64, "labels": "original", "split": "test",
                                "knee_neck": 1000.0, "rigid_spine": False}
    assert runner.invoke(sample_cmd, ["mpii", "--out", str(tmp_path / "c"), "--full"]).exit_code == 0
    assert calls["mpii"] == {"seed": 0, "full": True}

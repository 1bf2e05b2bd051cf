"""`posebench prepare h36m` on look-alike trees, and the facts it takes from the official metadata.xml."""
from __future__ import annotations

import hashlib
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import cdflib
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from posebench.cli import main
from posebench.data import read_prepared
from posebench.evaluation import select_rows
from posebench.prepare import h36m_tables as T
from posebench.prepare.h36m import H36MError, parse_subjects, plan_views, prepare_h36m, read_pose_cdf, verify_archives
from posebench.prepare.video import decode_all
from posebench.protocols import load_protocol
from posebench.sample.h36m import write_tree

SUBJECTS = (1, 9, 11)
# Canonical joint i is H36M joint DOCUMENTED[i] (research/margipose-reference.md §2), written out here
# rather than imported so that a slip in posebench.skeleton shows.
DOCUMENTED = [15, 13, 25, 26, 27, 17, 18, 19, 1, 2, 3, 6, 7, 8, 0, 12, 14]
INTRINSICS_TOLERANCE = 2e-4  # relative (docs/contracts.md): the fit models Human3.6M's full lens model


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("h36m-raw")
    write_tree(root, seed=3)
    return root


@pytest.fixture(scope="module")
def sample(tree) -> dict:
    return json.loads((tree / "posebench-sample.json").read_text())


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("h36m-data")
    summary = prepare_h36m(tree, out, jobs=1, subjects=SUBJECTS, progress=False)
    return out, summary


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rows_equal_pose_frames(prepared, sample):
    out, summary = prepared
    for split, subjects in (("train", ["S1"]), ("test", ["S9", "S11"])):
        data = read_prepared(out / "h36m" / f"{split}.h5")
        expected = sum(4 * seq["frames"] for s in subjects for seq in sample["subjects"][s]["sequences"].values())
        assert len(data) == expected == summary.outputs[split]["rows"]
        for s in subjects:
            for name, seq in sample["subjects"][s]["sequences"].items():
                for cam in T.CAMERAS:
                    m = (data["subject"] == int(s[1:])) & (data["sequence"] == name) & (data["camera"] == cam)
                    assert np.array_equal(data["frame"][m], np.arange(seq["frames"]))
                    assert set(data["subaction"][m]) == {seq["subaction"]}
                    assert set(data["take"][m]) == {f"{s}/{name}"}


def test_protocol_selects_every_64th_frame_less_the_corrupt_view(prepared, sample):
    out, _ = prepared
    data = read_prepared(out / "h36m" / "test.h5")
    expected = 0
    for s in ("S9", "S11"):
        for name, seq in sample["subjects"][s]["sequences"].items():
            for cam in T.CAMERAS:
                if (int(s[1:]), name, cam) not in T.CORRUPT_VIEWS:
                    expected += math.ceil(seq["frames"] / 64)
    rows = select_rows(load_protocol("h36m"), data)
    assert len(rows) == expected
    # every selected row has its frame on disk; the corrupt view's rows have none
    assert all(data["image"][rows] != "")
    for p in data["image"][rows][:8]:
        assert (out / "h36m" / p).stat().st_size > 0
    corrupt = (data["subject"] == 11) & (data["sequence"] == "Directions") & (data["camera"] == 54138969)
    assert corrupt.any() and (data["image"][corrupt] == "").all()


def test_extracted_frames_equal_a_full_decode_within_jpeg_error(prepared, tree):
    out, _ = prepared
    data = read_prepared(out / "h36m" / "test.h5")
    from PIL import Image

    row = int(np.flatnonzero((data["subject"] == 9) & (data["frame"] == 64) & (data["image"] != ""))[0])
    video = tree / "S9" / "Videos" / f"{data['sequence'][row]}.{data['camera'][row]}.mp4"
    full = decode_all(video)[64].astype(np.int16)
    jpeg = np.asarray(Image.open(out / "h36m" / data["image"][row])).astype(np.int16)
    assert jpeg.shape == full.shape and np.abs(jpeg - full).mean() < 4.0


def test_real_release_count_from_metadata(testdata):
    root = ET.parse(testdata / "h36m" / "metadata.xml").getroot()
    frames = list(root.find("frames"))
    total = 0
    for s in T.TEST_SUBJECTS:
        cells = list(frames[s - 1])[1:]  # 32 cells: (action 1..16) x (subaction 1, 2)
        for a in T.ACTIONS:
            for k in T.SUBACTIONS:
                counts = [int(x) for x in cells[2 * (a - 1) + (k - 1)].text.strip("[]").split()]
                n = min(min(counts[:4]), counts[4] // 4)  # H36MDataBase.m getNumFrames (eval-anchors §4)
                views = [c for c in T.CAMERAS if (s, T.SEQUENCES[s][2 * (a - 2) + k - 1], c) not in T.CORRUPT_VIEWS]
                total += len(views) * math.ceil(n / 64)
    assert total == 8695


def test_tables_rederived_from_metadata(testdata):
    root = ET.parse(testdata / "h36m" / "metadata.xml").getroot()
    rows = [[td.text for td in tr] for tr in root.find("mapping")]
    header = rows[0]
    for tr in rows[1:33]:
        a, k = int(tr[0]), int(tr[1])
        if a == 1:
            assert tr[2].startswith("_ALL")
            continue
        for s in T.SUBJECTS:
            assert header[1 + s] == f"S{s}"
            assert T.sequence_table()[(s, a, k)] == tr[1 + s], (s, a, k)
    names = [item.text for item in root.find("actionnames")]
    for a, name in T.ACTION_NAMES.items():
        assert T.METADATA_ACTION_NAMES.get(a, name) == names[a - 1]
    w0 = [float(x) for x in root.find("w0").text.strip("[]").split()]
    ids = [int(item.text) for item in root.find("dbcameras").find("index2id")]
    assert tuple(ids) == T.CAMERAS
    for c, cam in enumerate(ids):
        assert T.CALIBRATION[cam] == pytest.approx(w0[264 + 9 * c: 273 + 9 * c], rel=1e-12)
    sizes = rows[34]
    for s in T.SUBJECTS:
        hw = [int(x) for x in sizes[1 + s].replace(";", " ").strip("[]").split()]
        assert tuple(zip(hw[1::2], hw[0::2])) == T.METADATA_SIZES[s]
    listed = {}
    for line in (testdata / "h36m" / "archive-md5sums.txt").read_text().split("\n"):
        if line.strip():
            md5, path = line.split()
            listed[Path(path).name] = md5
    assert listed == T.ARCHIVE_MD5 and set(T.server_names()) == set(listed)


def test_joints3d_are_the_cdf_values_at_the_documented_indices(prepared, tree):
    out, _ = prepared
    data = read_prepared(out / "h36m" / "test.h5")
    for name, cam in (("Phoning 3", 55011271), ("Directions", 54138969)):
        feats = tree / "S11" / "MyPoseFeatures"
        raw = np.asarray(cdflib.CDF(str(feats / "D3_Positions_mono" / f"{name}.{cam}.cdf")).varget("Pose"))
        raw = raw.reshape(-1, 32, 3)
        m = (data["subject"] == 11) & (data["sequence"] == name) & (data["camera"] == cam)
        np.testing.assert_array_equal(data["joints3d"][m], raw[:, DOCUMENTED].astype(np.float32))
        d2 = np.asarray(cdflib.CDF(str(tree / "S11" / "MyPoseFeatures" / "D2_Positions" / f"{name}.{cam}.cdf"))
                        .varget("Pose")).reshape(-1, 32, 2)
        np.testing.assert_array_equal(data["joints2d"][m], d2[:, DOCUMENTED].astype(np.float32))
    assert set(data["action"][data["sequence"] == "Phoning 3"]) == {"Phoning"}


def test_fitted_intrinsics_match_the_generator(prepared, sample):
    out, summary = prepared
    for split in ("train", "test"):
        data = read_prepared(out / "h36m" / f"{split}.h5")
        for cam in T.CAMERAS:
            truth = np.array(sample["cameras"][str(cam)]["intrinsics"])
            fitted = data["intrinsics"][data["camera"] == cam]
            assert np.abs(fitted / truth - 1).max() < INTRINSICS_TOLERANCE, cam
    assert not any("calibration" in w for w in summary.warnings)
    for split in ("train", "test"):
        src = read_prepared(out / "h36m" / f"{split}.h5").attrs["sources"]
        assert src["calibration_max_rel_deviation"] < INTRINSICS_TOLERANCE
        assert src["calibration_median_rel_deviation"] <= src["calibration_max_rel_deviation"]
        assert src["calibration_worst_view"].startswith("S") and src["calibration_warning_threshold"] == 0.001


def test_corrupt_video_is_named_and_the_rest_completes(prepared, tree):
    out, summary = prepared
    assert summary.broken_videos == [str(tree / "S11" / "Videos" / "Directions.54138969.mp4")]
    assert any("Directions.54138969.mp4" in w for w in summary.warnings)
    train = read_prepared(out / "h36m" / "train.h5")
    assert (train["image"] != "").sum() == sum(math.ceil(n / 5) for n in
                                               np.unique(np.c_[train["sequence"].astype(str), train["camera"]],
                                                         axis=0, return_counts=True)[1])


def test_interrupted_run_resumes_to_the_same_content(prepared, tree, tmp_path):
    ref_out, ref = prepared

    class Interrupt(Exception):
        pass

    done = []

    def stop_after_five(key):
        done.append(key)
        if len(done) == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        prepare_h36m(tree, tmp_path, jobs=1, subjects=SUBJECTS, progress=False, on_view_done=stop_after_five)
    h36m = tmp_path / "h36m"
    assert not (h36m / "train.h5").exists() and not (h36m / "test.h5").exists()
    # leftovers of a writer killed with SIGKILL: named with its pid (999999999 is never a live process)
    (h36m / ".test.h5.999999999.leftover.tmp").write_bytes(b"half a file")
    (h36m / ".shards" / ".9__2__1__54138969.h5.999999999.xxxxxxxx.tmp").write_bytes(b"half a shard")
    summary = prepare_h36m(tree, tmp_path, jobs=1, subjects=SUBJECTS, progress=False)
    assert summary.reused == 5
    for split in ("train", "test"):
        assert summary.outputs[split]["content_hash"] == ref.outputs[split]["content_hash"]
        assert _file_sha(h36m / f"{split}.h5") == _file_sha(ref_out / "h36m" / f"{split}.h5")
    assert not list(h36m.glob(".*.tmp")) and not (h36m / ".shards").exists()


def test_jobs_2_equals_jobs_1_through_the_cli(prepared, tree, tmp_path):
    ref_out, ref = prepared
    res = CliRunner().invoke(main, ["prepare", "h36m", "--src", str(tree), "--out", str(tmp_path), "--jobs", "2",
                                    "--subjects", "1,9", "--subjects", "S11", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "Directions.54138969.mp4" in res.output
    for split in ("train", "test"):
        assert _file_sha(tmp_path / "h36m" / f"{split}.h5") == _file_sha(ref_out / "h36m" / f"{split}.h5")
    with h5py.File(tmp_path / "h36m" / "test.h5") as f:
        assert f.attrs["content_hash"] == ref.outputs["test"]["content_hash"]


def test_subject_subset_writes_only_its_split(tree, tmp_path):
    summary = prepare_h36m(tree, tmp_path, subjects=[9], progress=False)
    assert set(summary.outputs) == {"test"}
    assert set(read_prepared(tmp_path / "h36m" / "test.h5")["subject"]) == {9}
    assert parse_subjects(["S9,11", "1"]) == (1, 9, 11) and parse_subjects(None) == T.SUBJECTS
    with pytest.raises(H36MError):
        parse_subjects(["nine"])


def test_layout_errors_show_the_expected_layout(tree, tmp_path):
    with pytest.raises(H36MError, match=r"S5: missing subject folder[\s\S]*expected the official layout"):
        plan_views(tree, [5])
    broken = tmp_path / "raw"
    (broken / "S9" / "MyPoseFeatures" / "D3_Positions_mono").mkdir(parents=True)
    with pytest.raises(H36MError, match=r"D2_Positions: missing folder[\s\S]*D3_Positions_mono/<sequence>"):
        plan_views(broken, [9])
    with pytest.raises(H36MError, match="not a released"):
        plan_views(tree, [2])
    res = CliRunner().invoke(main, ["prepare", "h36m", "--src", str(broken), "--out", str(tmp_path / "o"),
                                    "--subjects", "9"])
    assert res.exit_code == 1 and "Traceback" not in res.output and "expected the official layout" in res.output


@pytest.mark.parametrize("damage", ["garbage", "empty", "wrong_shape"])
def test_corrupt_cdf_is_a_clear_error(tree, tmp_path, damage):
    import shutil

    src = tmp_path / "raw"
    shutil.copytree(tree / "S9", src / "S9")
    target = src / "S9" / "MyPoseFeatures" / "D3_Positions_mono" / "Greeting.58860488.cdf"
    if damage == "garbage":
        target.write_bytes(target.read_bytes()[:300] + b"\0garbage" * 50)
    elif damage == "empty":
        target.write_bytes(b"")
    else:
        from posebench.sample.h36m import write_cdf

        write_cdf(target, np.zeros((5, 64)))
    with pytest.raises(H36MError, match="Greeting.58860488.cdf"):
        read_pose_cdf(target, 3)
    res = CliRunner().invoke(main, ["prepare", "h36m", "--src", str(src), "--out", str(tmp_path / "o"),
                                    "--subjects", "9", "--quiet"])
    assert res.exit_code == 1 and "Greeting.58860488.cdf" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o" / "h36m" / "test.h5").exists()


def test_verify_archives(tmp_path):
    (tmp_path / "Poses_D2_Positions_S9.tgz").write_bytes(b"not the real archive")
    (tmp_path / "Videos").mkdir()
    (tmp_path / "Videos" / "SubjectSpecific_5.tgz").write_bytes(b"S11 videos, damaged")
    status = verify_archives(tmp_path)
    assert status["Poses_D2_Positions_S9.tgz"] == "mismatch" and status["Videos_S11.tgz"] == "mismatch"
    assert status["Videos_S1.tgz"] == "missing" and len(status) == 35
    res = CliRunner().invoke(main, ["prepare", "h36m", "--src", str(tmp_path), "--out", str(tmp_path / "o"),
                                    "--verify", str(tmp_path)])
    assert res.exit_code == 1 and "MD5 mismatch" in res.output and "Videos_S11.tgz" in res.output


def test_end_to_end_sample_prepare_template_evaluate(prepared, tmp_path):
    """sample -> prepare -> evaluate --template -> ground truth + known noise -> the MPJPE the noise implies."""
    out, _ = prepared
    runner = CliRunner()
    template = tmp_path / "template.h5"
    res = runner.invoke(main, ["evaluate", "-p", "h36m", "--data", str(out), "--template", str(template)])
    assert res.exit_code == 0, res.output
    with h5py.File(template) as f:
        index = f["index"][()]
        assert "joints3d" not in f and len(f["image"][()]) == len(index)
    gt = read_prepared(out / "h36m" / "test.h5")["joints3d"][index].astype(np.float64)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=gt.shape)
    noise *= 10.0 / np.linalg.norm(noise, axis=-1, keepdims=True)  # 10 mm at every joint...
    noise[:, 14] = 0.0  # ...but the root, so root-centring keeps them: MPJPE = 10 * 16/17 mm
    preds = tmp_path / "preds.h5"
    from posebench.predictions import write_predictions

    write_predictions(preds, gt + noise, index)
    res = runner.invoke(main, ["evaluate", "-p", "h36m", "--data", str(out), "--predictions", str(preds),
                               "--format", "json", "--no-save"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output[res.output.index("{"):])
    assert result["rows"] == len(index)
    assert result["summary"]["mpjpe"] == pytest.approx(10.0 * 16 / 17, rel=1e-4)


def test_calibration_check_warns_beyond_a_tenth_of_a_percent():
    from posebench.prepare.h36m import View, _check_calibration

    view = View(9, 2, 1, "Directions 1", 54138969)
    calib = np.array(T.CALIBRATION[54138969][:4])
    report, warning = _check_calibration(view, tuple(calib * 1.0005), (1000, 1002))
    assert warning is None and report["official_size"] and report["max_rel_deviation"] == pytest.approx(0.0005)
    _, warning = _check_calibration(view, tuple(calib * [1.002, 1, 1, 1]), (1000, 1002))
    assert warning and "Directions 1.54138969" in warning and "0.200 %" in warning
    scaled = calib * [0.256, 256 / 1002, 0.256, 256 / 1002]  # a resized (look-alike) video: the scaled calibration
    report, warning = _check_calibration(view, tuple(scaled), (256, 256))
    assert warning is None and not report["official_size"] and report["max_rel_deviation"] < 1e-12
    _, warning = _check_calibration(view, tuple(scaled * [1, 1, 1.003, 1]), (256, 256))
    assert warning and "0.300 %" in warning  # resized videos are checked too: D2 is in the video's pixels


def test_short_and_missing_videos_keep_their_rows(tree, tmp_path):
    import shutil

    from posebench.sample.media import write_mp4

    src = tmp_path / "raw"
    shutil.copytree(tree / "S9", src / "S9")
    videos = src / "S9" / "Videos"
    short = videos / "Greeting.55011271.mp4"
    write_mp4(short, np.stack(decode_all(short)[:40]))
    (videos / "Directions 1.60457274.mp4").unlink()
    summary = prepare_h36m(src, tmp_path / "out", subjects=[9], progress=False)
    data = read_prepared(tmp_path / "out" / "h36m" / "test.h5")
    m = (data["sequence"] == "Greeting") & (data["camera"] == 55011271)
    assert list(data["frame"][m][data["image"][m] != ""]) == [0]  # frame 64 is past the 40 video frames
    assert any("Greeting.55011271.mp4: 40 video frames" in w for w in summary.warnings)
    gone = (data["sequence"] == "Directions 1") & (data["camera"] == 60457274)
    assert gone.sum() > 64 and (data["image"][gone] == "").all()
    assert summary.broken_videos == [str(videos / "Directions 1.60457274.mp4")]


def test_matching_archive_passes_verify(tmp_path, monkeypatch):
    archive = tmp_path / "Poses" / "D3_Positions_mono" / "SubjectSpecific_4.tgz"  # the server's name for S9
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"stand-in archive bytes")
    monkeypatch.setitem(T.ARCHIVE_MD5, "Poses_D3_Positions_mono_S9.tgz", hashlib.md5(archive.read_bytes()).hexdigest())
    status = verify_archives(tmp_path)
    assert status["Poses_D3_Positions_mono_S9.tgz"] == "ok"
    assert sum(v == "missing" for v in status.values()) == len(status) - 1


def test_prepare_group_lists_every_dataset():
    res = CliRunner().invoke(main, ["prepare", "--help"])
    assert res.exit_code == 0 and all(name in res.output for name in ("h36m", "mpi3dhp", "mpii"))
    for name in ("h36m", "mpi3dhp", "mpii"):
        res = CliRunner().invoke(main, ["prepare", name, "--help"])
        assert res.exit_code == 0 and "unavailable" not in res.output, res.output


def test_universal_poses_are_optional_per_split(tree, tmp_path):
    import shutil

    src = tmp_path / "raw"
    for s in ("S1", "S9", "S11"):
        shutil.copytree(tree / s / "MyPoseFeatures", src / s / "MyPoseFeatures")
    shutil.rmtree(src / "S11" / "MyPoseFeatures" / "D3_Positions_mono_universal")
    summary = prepare_h36m(src, tmp_path / "out", subjects=SUBJECTS, progress=False)
    assert any("test: joints3d_univ left out (S11" in w for w in summary.warnings)
    assert "joints3d_univ" not in read_prepared(tmp_path / "out" / "h36m" / "test.h5")
    assert "joints3d_univ" in read_prepared(tmp_path / "out" / "h36m" / "train.h5")
    assert len(summary.broken_videos) == 36  # no Videos folder at all: every view named, rows kept

"""posebench prepare mpii on a hand-built RELEASE struct with the real file's quirks (raw-formats.md §4)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from PIL import Image

from posebench.data import read_prepared
from posebench.prepare.matfile import MatFileError
from posebench.prepare.mpii import MpiiError, default_is_val, prepare_mpii, read_annotations

EMPTY = np.zeros((0, 0))


def struct_array(items: list[dict]) -> np.ndarray:
    """A MATLAB 1 x n struct array (savemat writes a structured ndarray as one); absent fields -> []."""
    fields = list(dict.fromkeys(k for it in items for k in it))
    arr = np.zeros((1, len(items)), dtype=[(f, object) for f in fields])
    for i, it in enumerate(items):
        for f in fields:
            arr[0, i][f] = it.get(f, EMPTY)
    return arr


def point(pid, x, y, vis):
    return {"id": np.array([[pid]]), "x": np.array([[x]]), "y": np.array([[y]]), "is_visible": vis}


def person(points, scale=3.0, pos=(100, 200), head=(10, 20, 30, 50)):
    r = {"x1": np.array([[head[0]]]), "y1": np.array([[head[1]]]), "x2": np.array([[head[2]]]), "y2": np.array([[head[3]]]),
         "scale": np.array([[scale]]), "objpos": {"x": np.array([[pos[0]]]), "y": np.array([[pos[1]]])}}
    if points is not None:
        r["annopoints"] = {"point": struct_array(points)}
    return r


FULL = [point(j, 10.0 + j, 20.0 + 2 * j, np.array([[1]], np.uint8)) for j in range(16)]
# quirks: one point only (squeeze collapses it), is_visible empty / char, ids 8 and 9 missing
QUIRKY = [point(j, 5 * j + 1, 7 * j + 1, "1" if j % 2 else EMPTY) for j in range(16) if j not in (8, 9)]


def build_release(path, n_images=40):
    annolist, train = [], []
    for i in range(n_images):
        if i % 10 == 9:  # a test image: objpos and scale only
            rects = struct_array([{"scale": np.array([[2.0]]), "objpos": {"x": np.array([[5]]), "y": np.array([[6]])}}])
            train.append(0)
        elif i % 10 == 5:  # two persons, one without annopoints
            rects = struct_array([person(FULL), person(None)])
            train.append(1)
        elif i % 10 == 7:
            rects = struct_array([person([point(6, 50, 60, np.array([[0]], np.uint8))])])  # single point
            train.append(1)
        else:
            rects = struct_array([person(QUIRKY if i % 2 else FULL)])
            train.append(1)
        annolist.append({"image": {"name": f"{i:09d}.jpg"}, "annorect": rects, "frame_sec": EMPTY, "vididx": EMPTY})
    release = {"annolist": struct_array(annolist), "img_train": np.array([train], dtype=np.uint8),
               "version": "12", "single_person": np.empty((n_images, 1), dtype=object), "act": EMPTY}
    for k in range(n_images):
        release["single_person"][k, 0] = EMPTY
    scipy.io.savemat(path, {"RELEASE": release})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    src = tmp_path_factory.mktemp("mpii_src")
    build_release(src / "mpii_human_pose_v1_u12_1.mat")
    (src / "images").mkdir()
    for i in range(40):
        if i != 3:  # one image file missing, as in the real release
            Image.new("RGB", (8, 8)).save(src / "images" / f"{i:09d}.jpg")
    out = tmp_path_factory.mktemp("mpii_out")
    lines: list[str] = []
    train, val = prepare_mpii(src, out, images=True, jobs=1, progress=False, echo=lines.append)
    return src, out, read_prepared(train), read_prepared(val), lines


def test_counts_and_quirks(built):
    src, _, train, val, lines = built
    ann = read_annotations(src / "mpii_human_pose_v1_u12_1.mat")
    assert ann["skipped"] == {"test_images": 4, "no_annopoints": 4, "no_scale_or_objpos": 0}
    assert len(ann["index"]) == 36
    assert len(train) + len(val) == 35  # one person's image file is missing
    assert train.attrs["kind"] == "2d" and train.attrs["missing_images"] == 1
    assert set(np.concatenate([train["image_name"], val["image_name"]])) == {f"{i:09d}.jpg" for i in range(40)
                                                                             if i % 10 != 9 and i != 3}


def test_mapping_and_masks(built):
    _, _, train, val, _ = built
    both = {k: np.concatenate([train[k], val[k]]) for k in ("joints2d", "mask", "visible", "annolist_index", "centre")}
    full = np.isin(both["annolist_index"] % 10, (0, 2, 4, 6, 8)) | (both["annolist_index"] % 10 == 5)
    j = both["joints2d"][full][0]
    # canonical head_top <- MPII 9, r_ankle (10) <- MPII 0, pelvis (14) <- MPII 6
    np.testing.assert_allclose(j[0], [19, 38]); np.testing.assert_allclose(j[10], [10, 20]); np.testing.assert_allclose(j[14], [16, 32])
    np.testing.assert_allclose(j[16], 0.5 * np.array([19, 38]) + 0.5 * np.array([18, 36]))  # head
    np.testing.assert_allclose(j[15], 0.53 * np.array([17, 34]) + 0.47 * np.array([16, 32]))  # spine
    assert both["mask"][full].all() and both["visible"][full].all()
    quirky = both["annolist_index"] % 2 == 1
    quirky &= ~np.isin(both["annolist_index"] % 10, (5, 7, 9))
    m = both["mask"][quirky][0]
    assert not m[0] and not m[1] and not m[16]  # head_top (9) and upper neck (8) missing -> head invalid too
    assert m[2:16].all()
    single = both["annolist_index"] % 10 == 7
    assert both["mask"][single].sum(1).tolist() == [1] * int(single.sum())  # only the pelvis
    np.testing.assert_allclose(both["centre"][0], [100, 200])


def test_split_is_by_image_and_documented(built, tmp_path):
    src, out, train, val, _ = built
    assert not set(train["image_name"]) & set(val["image_name"])
    np.testing.assert_array_equal(default_is_val(list(val["image_name"])), True)
    lst = tmp_path / "val.txt"
    lst.write_text("# my split\n0\n5\n")
    t2, v2 = prepare_mpii(src, tmp_path / "o", images=False, val_indices=lst, progress=False, echo=lambda s: None)
    v = read_prepared(v2)
    assert sorted(set(v["annolist_index"])) == [0, 5] and len(v) == 2
    assert set(v["image"]) == {""}
    lst.write_text("7\n99\n")
    with pytest.raises(MpiiError, match="val.txt:2"):
        prepare_mpii(src, tmp_path / "o", images=False, val_indices=lst, progress=False)


def test_bad_files(tmp_path):
    with pytest.raises(MpiiError, match="no mpii_human_pose_v1_u12_1.mat"):
        prepare_mpii(tmp_path, tmp_path / "o", progress=False)
    p = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    scipy.io.savemat(p, {"OTHER": np.zeros(3)})
    with pytest.raises(MatFileError, match="no RELEASE"):
        read_annotations(p)
    scipy.io.savemat(p, {"RELEASE": {"annolist": struct_array([{"image": {"name": "../x.jpg"}}]),
                                     "img_train": np.array([[1]])}})
    with pytest.raises(MatFileError, match="not a plain file name"):
        read_annotations(p)


@pytest.fixture(scope="module")
def lookalike_mpii(tmp_path_factory):
    import json

    from posebench.sample.mpii import write_tree
    src = tmp_path_factory.mktemp("look_mpii")
    write_tree(src, seed=2)  # the default tree has every path of the real file once
    out = tmp_path_factory.mktemp("look_mpii_out")
    train, val = prepare_mpii(src, out, progress=False, echo=lambda s: None)
    return json.loads((src / "posebench-sample.json").read_text()), read_prepared(train), read_prepared(val), out


def test_lookalike_mpii_round_trip(lookalike_mpii):
    from posebench.skeleton import from_mpii
    meta, train, val, out = lookalike_mpii
    both = {k: np.concatenate([train[k], val[k]]) for k in train.columns}
    assert len(both["joints2d"]) == meta["train_people"]
    by_key = {(int(i), int(p)): r for r, (i, p) in enumerate(zip(both["annolist_index"], both["person"]))}
    seen = 0
    for i, m in enumerate(meta["images"]):
        if not m["train"] or m["kind"] == "boxonly":
            assert not any(k[0] == i for k in by_key)
            continue
        for p, person in enumerate(m["people"]):
            r = by_key[(i, p)]
            seen += 1
            j16 = np.zeros((16, 2))
            written = person["points_written"]
            j16[written] = np.asarray(person["joints"])[written]
            j17, mask = from_mpii(j16, present=np.isin(np.arange(16), written))
            np.testing.assert_allclose(both["joints2d"][r], j17, atol=1e-4)
            np.testing.assert_array_equal(both["mask"][r], mask)
            np.testing.assert_allclose(both["head_box"][r], person["head_box"])
            np.testing.assert_allclose(both["centre"][r], person["objpos"])
            assert both["scale"][r] == pytest.approx(person["scale"], rel=1e-6)
            assert both["single_person"][r] == (p + 1 in m["single_person"])
            assert both["image"][r] == f"images/{m['name']}" and (out / "mpii" / both["image"][r]).is_file()
    assert seen == len(by_key)


def test_missing_fields_are_counted_not_guessed(tmp_path):
    no_pos = person(FULL)
    del no_pos["objpos"]
    no_scale = person(FULL)
    no_scale["scale"] = EMPTY
    annolist = [{"image": {"name": f"{i:09d}.jpg"}, "annorect": struct_array([r])}
                for i, r in enumerate([no_pos, no_scale, person(FULL)])]
    p = tmp_path / "m.mat"
    scipy.io.savemat(p, {"RELEASE": {"annolist": struct_array(annolist), "img_train": np.array([[1, 1, 1]])}})
    ann = read_annotations(p)
    assert ann["skipped"]["no_scale_or_objpos"] == 2 and ann["index"].tolist() == [2]
    scipy.io.savemat(p, {"RELEASE": {"annolist": struct_array(annolist[:2]), "img_train": np.array([[1, 1]])}})
    with pytest.raises(MatFileError, match="no annotated training person"):
        read_annotations(p)
    bad_id = person([point(17, 1.0, 2.0, np.array([[1]], np.uint8))])
    scipy.io.savemat(p, {"RELEASE": {"annolist": struct_array([{"image": {"name": "a.jpg"},
                                                                 "annorect": struct_array([bad_id])}]),
                                     "img_train": np.array([[1]])}})
    with pytest.raises(MatFileError, match="joint id 17"):
        read_annotations(p)


def test_joints_on_the_image_edge_are_kept(tmp_path):
    """In the official .mat a missing joint is absent; x = 0 or y = 0 is a real annotation on the edge."""
    edge = [point(j, 10.0 + j, 20.0 + 2 * j, np.array([[1]], np.uint8)) for j in range(16) if j != 14]
    edge[0] = point(0, 0, 57, np.array([[1]], np.uint8))  # r_ankle on the left edge (integer x = 0)
    edge[9] = point(9, 33.5, 0.0, np.array([[1]], np.uint8))  # head_top on the top edge
    annolist = [{"image": {"name": "000000001.jpg"}, "annorect": struct_array([person(edge)])}]
    p = tmp_path / "src" / "mpii_human_pose_v1_u12_1.mat"
    p.parent.mkdir()
    scipy.io.savemat(p, {"RELEASE": {"annolist": struct_array(annolist), "img_train": np.array([[1]])}})
    train, val = prepare_mpii(p.parent, tmp_path / "out", images=False, progress=False, echo=lambda s: None)
    data = read_prepared(train) if len(read_prepared(train)) else read_prepared(val)
    from posebench.skeleton import JOINT_INDEX
    mask, joints = data["mask"][0], data["joints2d"][0]
    assert mask[JOINT_INDEX["r_ankle"]] and joints[JOINT_INDEX["r_ankle"]].tolist() == [0.0, 57.0]
    assert mask[JOINT_INDEX["head_top"]] and joints[JOINT_INDEX["head_top"]].tolist() == [33.5, 0.0]
    assert mask[JOINT_INDEX["head"]]  # synthesised from head_top and upper_neck, both present
    assert not mask[JOINT_INDEX["l_elbow"]]  # MPII id 14, absent from the .mat
    assert read_annotations(p)["present"][0].tolist() == [j != 14 for j in range(16)]

"""Look-alike MPII trees read back with scipy.io.loadmat in both of the ways real loaders use it, and Pillow."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from posebench.sample import mpii as W
from posebench.sample.body import PARTS
from posebench.sample.render import part_of




@pytest.fixture(scope="session")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpii")
    return out, W.write_tree(out, seed=5)


@pytest.fixture(scope="session")
def release(tree):
    return scipy.io.loadmat(tree[0] / W.MAT_NAME)["RELEASE"]


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _points(rect) -> dict[int, tuple]:
    """id -> (x, y, is_visible) of one annorect read with loadmat's defaults (every level wrapped)."""
    out = {}
    for p in rect["annopoints"][0, 0]["point"][0]:
        out[int(p["id"][0, 0])] = (p["x"][0, 0], p["y"][0, 0], p["is_visible"])
    return out


def test_release_struct_as_loadmat_reads_it(tree, release):
    _, meta = tree
    n = len(meta["images"])
    assert release.shape == (1, 1)
    assert release.dtype.names == ("annolist", "img_train", "version", "single_person", "act", "video_list")
    r = release[0, 0]
    assert r["annolist"].shape == (1, n) and r["annolist"].dtype.names == ("image", "annorect", "frame_sec", "vididx")
    assert r["img_train"].shape == (1, n)
    np.testing.assert_array_equal(r["img_train"][0], [float(m["train"]) for m in meta["images"]])
    assert r["single_person"].shape == (n, 1) and r["single_person"].dtype == object
    assert r["act"].shape == (n, 1) and r["act"].dtype.names == ("cat_name", "act_name", "act_id")
    assert r["video_list"].shape == (1, 3) and all(len(v[0]) == 11 for v in r["video_list"][0])
    names = [e["image"][0, 0]["name"][0] for e in r["annolist"][0]]
    assert names == [m["name"] for m in meta["images"]]
    assert all(len(x) == 13 and x[:9].isdigit() and x.endswith(".jpg") for x in names)


def test_annotations_match_the_record_with_every_quirk(tree, release):
    _, meta = tree
    r = release[0, 0]
    vis_types, coord_types, empties = set(), set(), 0
    for entry, m in zip(r["annolist"][0], meta["images"]):
        rects = entry["annorect"]
        if not m["people"]:
            assert rects.shape == (0, 0)  # an image without people: annorect = []
            continue
        assert rects.shape == (1, len(m["people"]))
        fields = set(rects.dtype.names)
        if m["train"]:
            assert {"x1", "y1", "x2", "y2", "annopoints", "scale", "objpos"} == fields
        else:
            assert {"scale", "objpos"} <= fields and "annopoints" not in fields
        for rect, person in zip(rects[0], m["people"]):
            assert rect["scale"][0, 0] == pytest.approx(person["scale"])
            assert [int(rect["objpos"][0, 0][k][0, 0]) for k in ("x", "y")] == person["objpos"]
            if not m["train"]:
                continue
            assert [int(rect[k][0, 0]) for k in ("x1", "y1", "x2", "y2")] == person["head_box"]
            if m["kind"] == "boxonly":
                assert rect["annopoints"].size == 0
                continue
            pts = _points(rect)
            assert sorted(pts) == person["points_written"]
            for i, (x, y, v) in pts.items():
                coord_types.add(np.asarray(x).dtype.kind)
                np.testing.assert_allclose([x, y], person["joints"][i], atol=1e-6)
                if isinstance(v, np.ndarray) and v.size == 0:
                    empties += 1
                    vis_types.add("empty")
                elif v.dtype.kind == "U":
                    vis_types.add("char")
                    assert v[0] == str(person["visible"][i])
                else:
                    vis_types.add(str(v.dtype))
                    assert v[0, 0] == person["visible"][i]
            x1, y1, x2, y2 = person["head_box"]
            for j in (8, 9):  # the head box holds the upper neck and the head top
                hx, hy = person["joints"][j]
                assert x1 - 1 <= hx <= x2 + 1 and y1 - 1 <= hy <= y2 + 1
    assert vis_types == {"uint8", "char", "empty"} and coord_types == {"u", "f"}
    # a truncated person lacks the points outside the image
    trunc = next(m for m in meta["images"] if m["kind"] == "truncated")["people"][0]
    assert 0 < len(trunc["points_written"]) < 16
    kinds = {m["kind"] for m in meta["images"]}
    assert {"single", "multi", "truncated", "boxonly", "rotations", "empty", "missing"} <= kinds
    rot = next(e for e, m in zip(r["annolist"][0], meta["images"]) if m["kind"] == "rotations")
    assert "head_r11" in rot["annorect"].dtype.names and "torso_r33" in rot["annorect"].dtype.names


def test_single_person_is_one_based_and_empties_vary(tree, release):
    _, meta = tree
    r = release[0, 0]
    for sp, entry, m in zip(r["single_person"][:, 0], r["annolist"][0], meta["images"]):
        if m["single_person"]:
            assert sp.dtype == np.uint8 and sp.shape == (len(m["single_person"]), 1)
            assert sp.min() >= 1 and sp.max() <= entry["annorect"].shape[1]
        else:
            assert sp.size == 0
    assert {e["frame_sec"].size for e in r["annolist"][0]} == {0, 1}
    acts = [a["act_id"][0, 0] for a in r["act"][:, 0]]
    assert -1 in acts and any(a > 0 for a in acts)


def test_squeezed_reading_collapses_singletons(tree):
    _, meta = tree
    d = scipy.io.loadmat(tree[0] / W.MAT_NAME, struct_as_record=False, squeeze_me=True)
    annolist = d["RELEASE"].annolist
    for entry, m in zip(annolist, meta["images"]):
        rect = entry.annorect
        if len(m["people"]) == 1:
            assert isinstance(rect, scipy.io.matlab.mat_struct)
        elif len(m["people"]) > 1:
            assert isinstance(rect, np.ndarray) and len(rect) == len(m["people"])
        else:
            assert isinstance(rect, np.ndarray) and rect.size == 0
    first = annolist[0].annorect
    assert first._fieldnames == ["x1", "y1", "x2", "y2", "annopoints", "scale", "objpos"]


def test_images_exist_with_the_recorded_sizes(tree):
    root, meta = tree
    for m in meta["images"]:
        path = root / "images" / m["name"]
        if m["kind"] == "missing":  # an annotation whose image file is not in the archive
            assert not path.exists() and m["name"] in meta["missing_images"]
            continue
        with Image.open(path) as im:
            assert im.format == "JPEG" and list(im.size) == m["size"] and max(im.size) <= 128


def test_rendered_people_are_where_their_joints_are(tree):
    root, meta = tree
    # MPII ids: pelvis 6 - thorax 7 (torso), l_hip 3 - l_knee 4, r_hip 2 - r_knee 1
    bones = ((6, 7, "torso"), (3, 4, "left_leg"), (2, 1, "right_leg"))
    parts, bg = [], []
    for m in meta["images"]:
        if m["kind"] == "missing" or not m["people"]:
            continue
        img = np.asarray(Image.open(root / "images" / m["name"]))[None]
        h, w = img.shape[1:3]
        for p in m["people"]:
            j = np.array(p["joints"])
            for a, b, name in bones:
                x, y = np.round(0.5 * (j[a] + j[b])).astype(int)
                if 0 <= x < w and 0 <= y < h:
                    parts.append((name, int(part_of(img[0, y, x]))))
        corners = img[0, [0, 0, -1, -1], [0, -1, 0, -1]]  # the people stand clear of the corners
        bg.extend(part_of(corners).tolist())
    got = np.array([k for _, k in parts])
    want = np.array([PARTS.index(n) for n, _ in parts])
    assert len(parts) >= 20 and (got >= 0).mean() > 0.75 and (got == want).mean() > 0.6
    assert (np.array(bg) < 0).all()


def test_deterministic_for_a_seed(tree, tmp_path):
    W.write_tree(tmp_path / "a", seed=5)
    W.write_tree(tmp_path / "b", seed=6)
    a, ref, b = _files(tmp_path / "a"), _files(tree[0]), _files(tmp_path / "b")
    assert a == ref and a[W.MAT_NAME] != b[W.MAT_NAME]
    assert json.loads(a["posebench-sample.json"])["seed"] == 5


def test_bad_size_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="size"):
        W.write_tree(tmp_path, size=8)


def test_rewriting_a_tree_drops_old_images(tmp_path):
    W.write_tree(tmp_path, seed=1)
    W.write_tree(tmp_path, seed=2)
    meta = json.loads((tmp_path / "posebench-sample.json").read_text())
    expect = {m["name"] for m in meta["images"] if m["kind"] != "missing"}
    assert {p.name for p in (tmp_path / "images").iterdir()} == expect

import numpy as np
import pytest
import torch

from margipose import coords
from margipose.data import (FLIP, ImageFileError, MixedSampler, EpochSampler, PlannedConcatDataset, Pose2DDataset,
                            Pose3DDataset, resolve_image)


def _peak(image: torch.Tensor) -> np.ndarray:
    """(x, y) centroid, in crop pixels, of the bright dot (brightness above the background's median)."""
    g = image.sum(0).numpy()
    g = (g - np.median(g)).clip(0)
    ys, xs = np.mgrid[:g.shape[0], :g.shape[1]]
    return np.array([(g * (xs + 0.5)).sum(), (g * (ys + 0.5)).sum()]) / g.sum()


@pytest.mark.parametrize("seed", range(6))
def test_augmented_crop_and_target_agree(blob_tree, seed):
    ds = Pose3DDataset(blob_tree / "mpi3dhp" / "train.h5", input_size=64, augment=True, seed=seed)
    for i in range(2):
        sample = ds[i]
        flipped = coords.sample_augmentation(np.random.default_rng((seed, 0, i)), 1, "3d").flip[0]
        j = FLIP[4] if flipped else 4  # after a flip the r_wrist blob is labelled as l_wrist
        xy = (sample["target"][j, :2].numpy() + 1) * 32
        assert np.abs(_peak(sample["image"]) - xy).max() <= 0.75
        assert sample["has_depth"] and sample["mask"].all()
        assert abs(float(sample["target"][14, 2])) < 1e-6  # the root sits at NDC depth 0


def test_mpii_rows(blob_tree):
    ds = Pose2DDataset(blob_tree / "mpii" / "train.h5", input_size=64, augment=False)
    s = ds[0]
    assert not s["has_depth"] and not s["mask"][3] and s["mask"].sum() == 16
    assert torch.all(s["target"][:, 2] == 0)
    xy = (s["target"][4, :2].numpy() + 1) * 32
    assert np.abs(_peak(s["image"]) - xy).max() <= 0.75
    aug = Pose2DDataset(blob_tree / "mpii" / "train.h5", input_size=64, augment=True, seed=3)
    assert all(aug[i]["image"].shape == (3, 64, 64) for i in range(4))


def test_a_batch_is_its_items_one_by_one_readied_first(blob_tree, monkeypatch):
    """__getitems__ (what torch's DataLoader calls for a batch) gives the items __getitem__ gives, 3D and 2D,
    through nested concatenations and negative indices; every item is read before any is decoded."""
    from torch.utils.data import DataLoader

    from margipose import data

    d3 = Pose3DDataset(blob_tree / "mpi3dhp" / "train.h5", input_size=64, augment=True, seed=4)
    d2 = Pose2DDataset(blob_tree / "mpii" / "train.h5", input_size=64, augment=True, seed=4)
    mixed = PlannedConcatDataset([PlannedConcatDataset([d3, d3]), d2])
    indices = [0, 7, 13, 2, -1, 5]
    events = []
    prepare, decode = data.prepare_crop, data.decode_crop
    monkeypatch.setattr(data, "prepare_crop", lambda *a: events.append("read") or prepare(*a))
    monkeypatch.setattr(data, "decode_crop", lambda p: events.append("decode") or decode(p))
    batch = mixed.__getitems__(indices)
    assert events == ["read"] * 6 + ["decode"] * 6
    for i, item in zip(indices, batch):
        want = mixed[i]
        assert item.keys() == want.keys() and all(torch.equal(item[k], want[k]) for k in item)
        assert bool(item["has_depth"]) == (i % len(mixed) < 2 * len(d3))
    for a, b in ((d3[-1], d3[len(d3) - 1]), (d2[-2], d2[len(d2) - 2])):  # augmented rows from the end
        assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(IndexError):
        d3[len(d3)]
    for past in (len(mixed), -len(mixed) - 1):  # past either end of the concatenation: refused, not wrapped
        with pytest.raises(IndexError):
            mixed.__getitems__([past])
    events.clear()
    loaded = next(iter(DataLoader(mixed, batch_size=4, sampler=[3, 12, 1, 8])))
    assert events[:4] == ["read"] * 4  # the loader used __getitems__
    assert torch.equal(loaded["image"], torch.stack([mixed[i]["image"] for i in (3, 12, 1, 8)]))


@pytest.mark.parametrize("augment", [False, True])
def test_byte_images_are_the_float_images_unscaled(blob_tree, augment):
    """image_dtype=torch.uint8 (what training feeds) gives the same crops as bytes: x float32(1/255) they are the
    float items, and every other field is equal, one by one and by batch."""
    from margipose.backbone import BYTE_SCALE

    for cls, name in ((Pose3DDataset, "mpi3dhp"), (Pose2DDataset, "mpii")):
        floats = cls(blob_tree / name / "train.h5", input_size=64, augment=augment, seed=5)
        nbytes = cls(blob_tree / name / "train.h5", input_size=64, augment=augment, seed=5, image_dtype=torch.uint8)
        for a, b in zip(floats.__getitems__([0, 3, -1]), [nbytes[0], nbytes[3], nbytes[-1]]):
            assert b["image"].dtype == torch.uint8 and a["image"].dtype == torch.float32
            assert torch.equal(b["image"].to(torch.float32).mul_(BYTE_SCALE), a["image"])
            assert all(torch.equal(a[k], b[k]) for k in a if k != "image")
        with pytest.raises(ValueError, match="image_dtype"):
            cls(blob_tree / name / "train.h5", image_dtype=torch.float64)


def test_wrong_file_kind_and_bad_image_paths(blob_tree, tmp_path):
    with pytest.raises(ValueError, match="3D"):
        Pose3DDataset(blob_tree / "mpii" / "train.h5")
    for name in ("../secret.png", "/etc/passwd", "a/../../b.jpg", "a\\..\\..\\b.jpg", "..", "C:/x.jpg", "a//../b"):
        with pytest.raises(ImageFileError, match="leaves"):
            resolve_image(tmp_path, name)
    for name in ("a/..b/c.jpg", "S1/./f.jpg", "x\\y.jpg"):
        path = resolve_image(tmp_path, name)
        assert path.resolve().is_relative_to(tmp_path.resolve()) and path.name in ("c.jpg", "f.jpg", "y.jpg")
    with pytest.raises(ImageFileError, match="no extracted image"):
        resolve_image(tmp_path, "")
    ds = Pose3DDataset(blob_tree / "mpi3dhp" / "train.h5", image_root=tmp_path, input_size=64)
    with pytest.raises(ImageFileError, match="not found"):
        ds[0]


def test_mixed_sampler_half_and_half_and_disjoint_ranks():
    ranks = [list(MixedSampler(20, 30, 20, seed=1, rank=r, world_size=2)) for r in range(2)]
    for idx in ranks:
        assert len(idx) == 20
        assert all(i < 20 for i in idx[0::2]) and all(i >= 20 for i in idx[1::2])
    a0, a1 = set(ranks[0][0::2]), set(ranks[1][0::2])
    assert not (a0 & a1) and a0 | a1 == set(range(20))
    s = MixedSampler(10, 30, 20, seed=1)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first
    e = [set(EpochSampler(8, 4, rank=r, world_size=2)) for r in range(2)]
    assert not (e[0] & e[1]) and len(e[0] | e[1]) == 8

"""margipose.rowcrop (one row in floats) against margipose.coords (N rows in arrays)."""
import numpy as np
import pytest

from margipose import coords
from margipose.rowcrop import augmentation_row, crop_row


@pytest.mark.parametrize("seed", range(5))
def test_crop_row_is_coords(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        k = np.array([rng.uniform(500, 2000), rng.uniform(500, 2000), rng.uniform(300, 1000), rng.uniform(300, 1000)])
        centre, side = rng.uniform(200, 900, 2), rng.uniform(100, 1200)
        rotation, flip = rng.uniform(-1, 1) * (rng.random() < 0.6), bool(rng.random() < 0.5)
        joints = rng.normal(0, 400, (17, 3)) + [0, 0, rng.uniform(2500, 6000)]
        geom = coords.make_crop(k[None], centre[None], np.array([side]), 256, np.array([rotation]), np.array([flip]))
        want_affine = coords.image_affine(geom)[0]
        want = coords.camera_to_ndc(joints[None], geom, joints[None, 14, 2])[0]
        affine, target = crop_row(k, tuple(centre), side, 256, rotation, flip, joints, 14)
        np.testing.assert_allclose(affine, want_affine, rtol=1e-12, atol=1e-12 * np.abs(want_affine).max())
        np.testing.assert_allclose(target, want, rtol=1e-12, atol=1e-12)


def test_crop_row_refuses_what_coords_refuses():
    k, joints = np.array([900.0, 900.0, 400.0, 400.0]), np.full((17, 3), 3000.0)
    for side in (0.0, -5.0, np.inf, np.nan):
        with pytest.raises(coords.GeometryError, match="side"):
            crop_row(k, (400.0, 400.0), side, 64, 0.0, False, joints, 14)
    with pytest.raises(coords.GeometryError, match="focal"):
        crop_row(np.array([0.0, 900.0, 400.0, 400.0]), (400.0, 400.0), 300.0, 64, 0.0, False, joints, 14)
    joints[14, 2] = -1.0
    with pytest.raises(coords.GeometryError, match="root depth"):
        crop_row(k, (400.0, 400.0), 300.0, 64, 0.0, False, joints, 14)


@pytest.mark.parametrize("kind", ["3d", "2d"])
def test_augmentation_row_is_sample_augmentation(kind):
    """The Dataset's scalar draw gives coords.sample_augmentation's numbers bit for bit, and leaves the
    generator where it does (the colour jitter is drawn next from the same generator)."""
    rotated = flipped = 0
    for seed in range(400):
        a, b = np.random.default_rng((seed, 7)), np.random.default_rng((seed, 7))
        want = coords.sample_augmentation(a, 1, kind)
        jx, jy, zoom, rotation, flip = augmentation_row(b, kind)
        assert (jx, jy) == tuple(want.jitter[0]) and zoom == want.zoom[0]
        assert rotation == want.rotation[0] and flip == bool(want.flip[0])
        assert a.random() == b.random()
        rotated += rotation != 0
        flipped += flip
    assert 100 < rotated < 220 and 150 < flipped < 250  # p 0.4 and 0.5 over 400 draws
    with pytest.raises(ValueError, match="kind"):
        augmentation_row(np.random.default_rng(0), "4d")

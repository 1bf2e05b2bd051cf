import numpy as np
import pytest

from margipose import coords


def _scene(n=20, seed=0):
    rng = np.random.default_rng(seed)
    k = np.stack([rng.uniform(800, 1500, n), rng.uniform(800, 1500, n), rng.uniform(400, 600, n),
                  rng.uniform(300, 500, n)], axis=1)
    root = np.stack([rng.uniform(-800, 800, n), rng.uniform(-500, 500, n), rng.uniform(2500, 7000, n)], axis=1)
    joints = root[:, None] + rng.normal(0, 300, (n, 17, 3))
    joints[:, 14] = root
    px = joints[..., :2] / joints[..., 2:] * k[:, None, :2] + k[:, None, 2:]
    return rng, k, joints, px


def _geom(rng, k, px, size=256, augment=True):
    centre, side = coords.square_box(coords.joints_box(px), 1.5)
    n = len(k)
    aug = coords.sample_augmentation(rng, n, "3d") if augment else coords.no_augmentation(n)
    return coords.make_crop(k, centre + aug.jitter, side / aug.zoom, size, aug.rotation, aug.flip)


@pytest.mark.parametrize("augment", [False, True])
def test_ndc_camera_round_trip(augment):
    rng, k, joints, px = _scene()
    geom = _geom(rng, k, px, augment=augment)
    z_ref = joints[:, 14, 2]
    ndc = coords.camera_to_ndc(joints, geom, z_ref)
    back = coords.ndc_to_camera(ndc, geom, z_ref)
    assert np.abs(back - joints).max() < 1e-6
    again = coords.camera_to_ndc(back, geom, z_ref)
    assert np.abs(again - ndc).max() < 1e-9
    assert np.abs(ndc[:, 14, 2]).max() < 1e-12  # the root depth maps to 0
    assert np.abs(ndc[..., :2]).max() < 1.5  # joints fall (about) inside the crop


def test_depth_range_ends_map_to_minus_one_and_one():
    rng, k, joints, px = _scene(5)
    geom = _geom(rng, k, px, augment=False)
    z_ref = joints[:, 14, 2]
    size = z_ref * np.maximum(geom.size / geom.crop_intrinsics[:, 0], geom.size / geom.crop_intrinsics[:, 1])
    near, far = coords.depth_range(z_ref, size)
    assert np.allclose(far - near, size)
    assert np.allclose(2 * near * far / (near + far), z_ref)  # harmonic mean
    pts = np.zeros((5, 2, 3))
    pts[:, 0, 2], pts[:, 1, 2] = near, far
    zn = coords.crop_to_ndc(pts, geom, z_ref)[..., 2]
    assert np.allclose(zn[:, 0], -1) and np.allclose(zn[:, 1], 1)


def test_image_warp_matches_the_crop_camera():
    """Projecting the transformed 3D points with the crop camera lands where the image map sends the 2D joints."""
    rng, k, joints, px = _scene()
    geom = _geom(rng, k, px)
    via_image = coords.pixels_to_crop(px, geom)
    cam = coords.points_to_crop(joints, geom)
    ck = geom.crop_intrinsics
    via_camera = cam[..., :2] / cam[..., 2:] * ck[:, None, :2] + ck[:, None, 2:]
    assert np.abs(via_image - via_camera).max() < 1e-6
    ndc = coords.camera_to_ndc(joints, geom, joints[:, 14, 2])
    assert np.abs((ndc[..., :2] + 1) * 128 - via_image).max() < 1e-6


def test_unaugmented_crop_covers_the_box():
    rng, k, joints, px = _scene()
    box = coords.joints_box(px)
    geom = _geom(rng, k, px, augment=False)
    q = coords.pixels_to_crop(px, geom)
    lo, hi = q.min(axis=1), q.max(axis=1)
    extent = np.maximum(hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1])
    assert np.allclose(extent, 256 / 1.5)  # the larger side spans 2/3 of the crop
    assert np.allclose((lo + hi) / 2, 128)
    assert box.shape == (20, 4)


def test_bad_geometry_is_refused():
    with pytest.raises(coords.GeometryError, match="side"):
        coords.make_crop(np.array([[1000, 1000, 500, 500]]), np.zeros((1, 2)), np.zeros(1), 256)
    rng, k, joints, px = _scene(2)
    geom = _geom(rng, k, px, augment=False)
    with pytest.raises(coords.GeometryError, match="depth"):
        coords.camera_to_ndc(joints, geom, np.array([0.0, 3000.0]))

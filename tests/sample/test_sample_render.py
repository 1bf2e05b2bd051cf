"""Rendering: the person is where the joints project, coloured by part, with perspective and occlusion."""
from __future__ import annotations

import numpy as np
import pytest

from posebench.sample import body as B
from posebench.sample import geometry as G
from posebench.sample.motion import motion
from posebench.sample import render as R

SIZE = (128, 128)
INTR = (160.0, 160.0, 64.0, 64.0)
# World -> camera for a camera 4.5 m in front of the origin at 1 m height, looking along +y.
ROT = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
CENTRE = np.array([0.0, -4500.0, 1000.0])


def _clip(skeleton: str, action: str, n: int = 12, seed: int = 0) -> np.ndarray:
    """A short motion, turned to face the camera (as of its first frame) and centred in front of it."""
    rng = np.random.default_rng(seed)
    skel = B.SKELETONS[skeleton]
    world = motion(B.random_body(rng, skel), action, n, rng)
    world[..., :2] -= world[:, :1, :2].mean(0)
    right = world[0, skel.key["r_hip"], :2] - world[0, skel.key["l_hip"], :2]
    turn = np.pi - np.arctan2(right[1], right[0])  # the subject's right towards image left (-x)
    c, s = np.cos(turn), np.sin(turn)
    world[..., :2] = world[..., :2] @ np.array([[c, s], [-s, c]])
    return G.world_to_camera(world, ROT, CENTRE)


def _nearest_part(rgb: np.ndarray) -> np.ndarray:
    """Classify pixels by chromaticity (shading changes brightness, not the hue)."""
    ref = np.array([R.PART_COLOURS[p] for p in B.PARTS], dtype=float)
    ref /= ref.sum(1, keepdims=True)
    c = rgb.astype(float) / np.maximum(rgb.astype(float).sum(-1, keepdims=True), 1)
    return np.linalg.norm(c[..., None, :] - ref, axis=-1).argmin(-1)


def test_shape_dtype_and_determinism():
    cam = _clip("h36m32", "walking")
    a = R.render_frames(cam, "h36m32", INTR, SIZE, seed=4)
    assert a.shape == (12, 128, 128, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, R.render_frames(cam, "h36m32", INTR, SIZE, seed=4))
    b = R.render_frames(cam, "h36m32", INTR, SIZE, seed=5)
    assert np.abs(a.astype(int) - b).mean() > 5  # another background
    with pytest.raises(ValueError, match="expected"):
        R.render_frames(cam[:, :28], "h36m32", INTR, SIZE)


def test_left_and_right_are_distinguishable():
    c = {k: np.array(v, float) for k, v in R.PART_COLOURS.items()}
    for part in ("arm", "leg"):
        assert np.linalg.norm(c["left_" + part] - c["right_" + part]) > 150
    assert set(R.PART_COLOURS) == set(B.PARTS)
    assert len({tuple(v) for v in R.PART_COLOURS.values()}) == len(B.PARTS)


@pytest.mark.parametrize("skeleton,action", [("h36m32", "walking"), ("mpi28", "exercising"),
                                             ("h36m32", "greeting"), ("mpi28", "reaching")])
def test_part_colours_at_projected_joints(skeleton, action):
    cam = _clip(skeleton, action, n=10, seed=2)
    dist = (-0.2, 0.24, 0.0, 0.001, -0.001)
    frames = R.render_frames(cam, skeleton, INTR, SIZE, dist=dist, seed=1)
    skel = B.SKELETONS[skeleton]
    uv = np.floor(G.project(cam, *INTR, dist)).astype(int)
    want = [j for j, p in enumerate(skel.parts) if p != "torso" and skel.radius[j] > 0
            and any(c for c in range(skel.num_joints) if skel.parents[c] == j and skel.radius[c] > 0)]
    assert len(want) >= 6  # elbows, wrists, knees, ankles
    hits = total = 0
    for i in range(len(cam)):
        for j in want:
            u, v = uv[i, j]
            if 0 <= u < SIZE[0] and 0 <= v < SIZE[1]:
                total += 1
                hits += B.PARTS[_nearest_part(frames[i, v, u])] == skel.parts[j]
    assert total > 0.9 * len(cam) * len(want)
    assert hits / total > 0.9, (hits, total)  # a few may be covered by a nearer part (occlusion)


def _person_pixels(cam: np.ndarray) -> int:
    big, intr = (256, 256), (320.0, 320.0, 128.0, 128.0)
    person = R.render_frames(cam, "h36m32", intr, big, seed=9)
    empty = R.render_frames(cam - [0, 0, 1e5], "h36m32", intr, big, seed=9)  # all behind the camera
    return int((np.abs(person.astype(int) - empty).sum(-1) > 30).sum())


def test_perspective_size_and_thickness():
    cam = _clip("h36m32", "standing", n=1)
    near, far = cam.copy(), cam.copy()
    near[..., 2] -= 1000
    far[..., 2] += 1000
    z_ratio = far[0, 0, 2] / near[0, 0, 2]
    assert _person_pixels(near) / _person_pixels(far) == pytest.approx(z_ratio**2, rel=0.2)  # area ~ 1/z^2
    far[..., :2] *= far[..., 2:] / near[..., 2:]  # the same image skeleton, farther away: thinner limbs
    assert _person_pixels(near) / _person_pixels(far) == pytest.approx(z_ratio, rel=0.25)


def test_occlusion_by_depth():
    cam = _clip("h36m32", "standing", n=1)[0]
    skel = B.SKELETONS["h36m32"]
    chest = 0.5 * (cam[0] + cam[13])
    u, v = np.floor(G.project(chest, *INTR)).astype(int)
    elbow, wrist = skel.joints.index("LeftForeArm"), skel.joints.index("LeftHand")
    seen = {}
    for name, dz in (("front", -300.0), ("behind", 300.0)):
        pose = cam.copy()
        pose[elbow] = chest + [-150, 0, dz]
        pose[wrist] = chest + [150, 0, dz]
        frame = R.render_frames(pose[None], "h36m32", INTR, SIZE, seed=3)[0]
        seen[name] = B.PARTS[_nearest_part(frame[v, u])]
    assert seen == {"front": "left_arm", "behind": "torso"}


def test_joints_at_or_behind_the_camera_are_skipped():
    import warnings

    cam = _clip("mpi28", "walking", n=3)
    cam[..., 2] -= cam[:, 4:5, 2] - 100.0  # the camera 10 cm in front of the pelvis: legs and head behind
    cam[0, 3, 2] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = R.render_frames(cam, "mpi28", INTR, SIZE, dist=(-0.2, 0.1, 0, 0, 0), seed=2)
    assert frames.shape == (3, 128, 128, 3)

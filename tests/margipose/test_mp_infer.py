import numpy as np
import pytest
import torch
from PIL import Image

from margipose import MargiPose, coords
from margipose.infer import MULTICROP_OFFSETS, Predictor, crop_views
from posebench.skeleton import knee_neck_length

TINY = {"stages": 1, "channels": 16, "mid_channels": 16, "input_size": 64}


def test_ten_crops_are_the_references_offsets_in_original_pixels():
    views = crop_views(True)
    assert len(views) == 10 and [v[0] for v in views] == [False] * 5 + [True] * 5
    assert {v[1] for v in views} == {(0.0, 0.0), (-8.0, 0.0), (0.0, -8.0), (8.0, 0.0), (0.0, 8.0)}
    assert MULTICROP_OFFSETS[1] == (-8, 0) and crop_views(False) == [(False, (0.0, 0.0))]


@pytest.fixture(scope="module")
def predictor_inputs():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)) for _ in range(3)]
    k = np.tile([150.0, 150.0, 80.0, 60.0], (3, 1))
    boxes = np.array([[40.0, 10.0, 100.0, 110.0], [50.0, 20.0, 90.0, 100.0], [30.0, 5.0, 120.0, 115.0]])
    return MargiPose(**TINY).eval(), images, k, boxes, np.full(3, 4000.0)


def test_multicrop_shifts_the_box_centre_by_8_original_pixels_whatever_the_box_size(predictor_inputs, monkeypatch):
    model, images, k, boxes, depth = predictor_inputs
    centres = []
    real = coords.make_crop

    def spy(intrinsics, centre, side, size, rotation=None, flip=None):
        centres.append(np.array(centre, float))
        return real(intrinsics, centre, side, size, rotation, flip)

    monkeypatch.setattr(coords, "make_crop", spy)
    Predictor(model, "cpu", multicrop=True).predict(images, k, boxes, depth)
    base, _ = coords.square_box(boxes, 1.5)
    shifts = [np.round(c - base, 9) for c in centres]
    assert all(np.all(s == s[0]) for s in shifts)  # the same pixel offset for every box size
    assert {tuple(s[0]) for s in shifts} == {(0.0, 0.0), (-8.0, 0.0), (0.0, -8.0), (8.0, 0.0), (0.0, 8.0)}


def test_each_crop_is_rescaled_to_the_knee_neck_length_before_averaging(predictor_inputs):
    model, images, k, boxes, depth = predictor_inputs
    one = Predictor(model, "cpu", multicrop=False, knee_neck=920.0).predict(images, k, boxes, depth)
    assert np.allclose(knee_neck_length(one), 920.0) and np.allclose(one[:, 14], 0.0)
    ten = Predictor(model, "cpu", multicrop=True, knee_neck=920.0).predict(images, k, boxes, depth)
    # the mean of ten 920 mm skeletons is at most 920 mm (bone lengths are convex)
    assert np.all(knee_neck_length(ten) <= 920.0 + 1e-6) and np.allclose(ten[:, 14], 0.0)
    plain = Predictor(model, "cpu", multicrop=True).predict(images, k, boxes, depth)
    assert not np.allclose(ten, plain - plain[:, 14:15])  # not the same as averaging at a fixed depth


def test_the_adapter_rescales_each_crop_where_the_protocol_uses_the_920_mm_rule(predictor_inputs, tmp_path):
    from types import SimpleNamespace

    from margipose.adapter import MargiPoseModel
    from margipose.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "c.pt", predictor_inputs[0])
    mpi = SimpleNamespace(granted=(), rescale="knee_neck_920")
    h36m = SimpleNamespace(granted=("root_depth",), rescale="none")
    assert MargiPoseModel(mpi, checkpoint=str(tmp_path / "c.pt"), multicrop=True).predictor.knee_neck == 920.0
    assert MargiPoseModel(mpi, checkpoint=str(tmp_path / "c.pt")).predictor.knee_neck is None
    assert MargiPoseModel(h36m, checkpoint=str(tmp_path / "c.pt"), multicrop=True).predictor.knee_neck is None

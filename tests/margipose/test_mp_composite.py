import numpy as np
import pytest
from PIL import Image

from margipose import coords
from margipose.composite import Compositor, SEQUENCE_FLAGS
from margipose.images import ImageFileError, read_crop

SIZE = 96


class Always:
    """A generator stand-in whose every draw says yes (random() = 0) and picks the first file."""

    def random(self, n=None):
        return np.zeros(n) if n else 0.9  # 0.9: no mirror of the background

    def integers(self, low, high=None, size=None):
        return np.full(size, max(low, 50) if high == 256 else 0) if size else 0


@pytest.fixture()
def scene(tmp_path):
    """A 200x200 grey frame with a white person (x 80-120, y 40-160); masks in the raw conventions."""
    frame = np.full((200, 200, 3), 90, np.uint8)
    frame[40:160, 80:120] = 250
    Image.fromarray(frame).save(tmp_path / "frame.png")
    fg = np.full((200, 200, 3), 255, np.uint8)
    fg[40:160, 80:120, 0] = 255  # red: the matte, bright on the person
    fg[:, :, 0][~((np.arange(200)[:, None] >= 40) & (np.arange(200)[:, None] < 160)
                  & (np.arange(200) >= 80) & (np.arange(200) < 120))] = 0
    fg[40:100, 80:120, 1] = 0     # green dark on the upper body
    fg[100:160, 80:120, 2] = 0    # blue dark on the lower body
    Image.fromarray(fg).save(tmp_path / "fg.png")
    Image.fromarray(np.full((200, 200, 3), 255, np.uint8)).save(tmp_path / "chair.png")  # no chair
    (tmp_path / "bg").mkdir(), (tmp_path / "tex").mkdir()
    Image.fromarray(np.full((800, 800, 3), (0, 0, 255), np.uint8)).save(tmp_path / "bg" / "blue.png")
    Image.fromarray(np.full((768, 768), 255, np.uint8)).save(tmp_path / "tex" / "white.png")
    joints = np.zeros((17, 2)) + [100, 100]
    joints[0], joints[10], joints[13] = [100, 42], [90, 158], [110, 158]
    k = np.array([[300.0, 300.0, 100.0, 100.0]])
    affine = coords.image_affine(coords.make_crop(k, np.array([[100.0, 100.0]]), np.array([180.0]), SIZE))[0]
    return tmp_path, joints, affine


def _apply(tmp, joints, affine, sequence, fg="fg.png"):
    comp = Compositor(tmp / "bg", tmp / "tex")
    crop = read_crop(tmp / "frame.png", affine, SIZE)
    out = comp.apply(crop, Always(), sequence, tmp / fg, tmp / "chair.png", joints, affine, (200, 200))
    return np.asarray(crop, float), np.asarray(out, float)


def _px(affine, x, y):
    u, v = (affine @ [x, y, 1.0])[:2]
    return int(v), int(u)


def test_background_replaced_outside_the_person_only(scene):
    tmp, joints, affine = scene
    assert SEQUENCE_FLAGS["S1/Seq1"] == (True, False, False)
    before, after = _apply(tmp, joints, affine, "S1/Seq1")
    assert np.allclose(after[_px(affine, 30, 30)], [0, 0, 255], atol=3)   # background -> blue
    assert np.allclose(after[_px(affine, 100, 70)], before[_px(affine, 100, 70)])  # the person stays
    assert np.allclose(after[_px(affine, 100, 140)], before[_px(affine, 100, 140)])


def test_matte_written_the_other_way_round_gives_the_same_composite(scene):
    tmp, joints, affine = scene
    fg = np.asarray(Image.open(tmp / "fg.png")).copy()
    fg[..., 0] = 255 - fg[..., 0]
    Image.fromarray(fg).save(tmp / "fg-inverted.png")
    a = _apply(tmp, joints, affine, "S1/Seq1")[1]
    b = _apply(tmp, joints, affine, "S1/Seq1", "fg-inverted.png")[1]
    assert np.array_equal(a, b)


def test_clothing_textures_follow_the_body_masks_and_the_sequence_flags(scene):
    tmp, joints, affine = scene
    before, after = _apply(tmp, joints, affine, "S1/Seq2")  # upper body only, no background
    up, low, out = _px(affine, 100, 60), _px(affine, 100, 140), _px(affine, 30, 30)
    # the stand-in draws colour (50, 50, 50); white texture colourised, times the frame's grey 250/255
    assert np.allclose(after[up], 50 * 250 / 255, atol=3) and not np.allclose(after[up], before[up])
    assert np.allclose(after[low], before[low]) and np.allclose(after[out], before[out])
    before, after = _apply(tmp, joints, affine, "unknown/Seq9")  # no flags: unchanged
    assert np.array_equal(before, after)


def test_folders_without_images_are_refused(tmp_path):
    with pytest.raises(ImageFileError, match="no .jpg/.png"):
        Compositor(tmp_path)


def test_dataset_needs_mask_columns_for_compositing(data_tree, scene):
    from margipose.data import Pose3DDataset

    tmp = scene[0]
    with pytest.raises(ImageFileError, match="fg_mask and chair_mask"):
        Pose3DDataset(data_tree / "mpi3dhp" / "train.h5", augment=True, backgrounds=tmp / "bg")

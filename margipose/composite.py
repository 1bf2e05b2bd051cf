"""MPI-INF-3DHP compositing augmentation (paper section 6.2; the reference's MpiInf3dDataset): a new background
behind the green-screen foreground (and the chair), and new textures on the upper and lower body clothing.

Facts (anibali/margipose `mpi_inf_3dhp/__init__.py`, `preprocess.py`, `sequence_info.json`):
* probabilities: background 0.6, upper body 0.2, lower body 0.5, each only where the sequence allows it
  (SEQUENCE_FLAGS), drawn in that order; backgrounds are a random 768x768 crop of one of the images, mirrored
  with p 0.5, covering the frame; textures are greyscale images colourised from black to a random RGB colour
  in [50, 255]^3 and darkened by the frame's darkness (texture * grey / 255), so folds and shading stay.
* masks from the raw mask videos: foreground = FGmasks red (the green-screen matte, limited to the person's box
  plus a margin) united with the inverted ChairMasks red; upper body = inverted FGmasks green, lower body =
  inverted FGmasks blue, each opened with a 3x3 minimum then maximum filter.
Differences, by design: the composite is made in the 256-pixel crop (every layer warped with the crop's map)
rather than in the 768-pixel frame before warping, which is equivalent up to resampling at the mask edges and
costs a small fraction; the person's box comes from the 17 canonical joints (the reference used all 28), with
a margin of 30 px at 768 scaled to the stored frame size. Background and texture images are the user's
(--backgrounds, --textures): the authors' 16 backgrounds and 8 textures are not redistributed here.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from margipose.images import ImageFileError, read_crop, warp_crop

P_BACKGROUND, P_UPPER, P_LOWER = 0.6, 0.2, 0.5
REFERENCE_SIDE = 768  # the reference's stored frame size: background crop side, box margin unit
BOX_MARGIN = 30
# (background, upper body, lower body) allowed per training sequence (reference sequence_info.json).
SEQUENCE_FLAGS: dict[str, tuple[bool, bool, bool]] = {
    "S1/Seq1": (True, False, False), "S1/Seq2": (False, True, False),
    "S2/Seq1": (True, False, False), "S2/Seq2": (True, True, True),
    "S3/Seq1": (True, False, False), "S3/Seq2": (True, True, True),
    "S4/Seq1": (True, False, False), "S4/Seq2": (False, True, False),
    "S5/Seq1": (True, False, False), "S5/Seq2": (True, True, True),
    "S6/Seq1": (True, False, False), "S6/Seq2": (True, True, True),
    "S7/Seq1": (True, True, True), "S7/Seq2": (True, False, False),
    "S8/Seq1": (True, True, True), "S8/Seq2": (True, False, False),
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TORSO = (14, 15, 1)  # pelvis, spine, neck: on the person in any pose


def image_files(folder: str | os.PathLike | None) -> tuple[Path, ...]:
    """The images in ``folder`` (sorted); empty for None. A folder without images is an error."""
    if folder is None:
        return ()
    folder = Path(folder)
    files = tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)) if folder.is_dir() else ()
    if not files:
        raise ImageFileError(f"{folder}: no .jpg/.png images for the compositing augmentation")
    return files


@lru_cache(maxsize=32)
def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


@lru_cache(maxsize=32)
def _grey(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("L")


def _frame_map(affine: np.ndarray, frame: tuple[int, int], layer: tuple[int, int]) -> np.ndarray:
    """Crop map for a layer image stretched over the whole frame."""
    return affine @ np.diag([frame[0] / layer[0], frame[1] / layer[1], 1.0])


def _box_mask(affine: np.ndarray, size: int, box: np.ndarray) -> np.ndarray:
    """(size, size) bool: crop pixels whose frame position lies inside ``box`` (x0, y0, x1, y1)."""
    inv = np.linalg.inv(affine)
    c = np.arange(size) + 0.5
    x = inv[0, 0] * c[None, :] + inv[0, 1] * c[:, None] + inv[0, 2]
    y = inv[1, 0] * c[None, :] + inv[1, 1] * c[:, None] + inv[1, 2]
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _opened(mask: Image.Image) -> Image.Image:
    return mask.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))


class Compositor:
    """Draws and applies the compositing augmentation to one crop (all work at crop resolution)."""

    def __init__(self, backgrounds: str | os.PathLike | None = None, textures: str | os.PathLike | None = None) -> None:
        self.backgrounds = image_files(backgrounds)
        self.textures = image_files(textures)

    def __bool__(self) -> bool:
        return bool(self.backgrounds or self.textures)

    def apply(self, crop: Image.Image, rng: np.random.Generator, sequence: str, fg_mask: Path | None,
              chair_mask: Path | None, joints2d: np.ndarray, affine: np.ndarray,
              frame: tuple[int, int]) -> Image.Image:
        """The crop with a new background and/or clothing, as drawn for this sample (else unchanged)."""
        bg_ok, ub_ok, lb_ok = SEQUENCE_FLAGS.get(sequence, (False, False, False))
        draws = rng.random(3)
        do_bg = bg_ok and draws[0] < P_BACKGROUND and bool(self.backgrounds) and chair_mask is not None
        do_ub = ub_ok and draws[1] < P_UPPER and bool(self.textures)
        do_lb = lb_ok and draws[2] < P_LOWER and bool(self.textures)
        if fg_mask is None or not (do_bg or do_ub or do_lb):
            return crop
        size = crop.size[0]
        masks = read_crop(fg_mask, affine, size).split()  # R: green-screen matte, G/B: upper/lower body (dark)
        if do_bg:
            margin = BOX_MARGIN * frame[1] / REFERENCE_SIDE
            box = np.concatenate([joints2d.min(0) - margin, joints2d.max(0) + margin])
            matte = np.asarray(masks[0])
            # The reference keeps the red channel's bright side; a mask written the other way round (person
            # dark, e.g. posebench's look-alike sampler) is recognised at the torso joints and turned over.
            torso = (joints2d[list(TORSO)] @ affine[:2, :2].T + affine[:2, 2]).astype(int).clip(0, size - 1)
            if np.median(matte[torso[:, 1], torso[:, 0]]) < 128:
                matte = 255 - matte
            person = matte * _box_mask(affine, size, box)
            chair = 255 - np.asarray(read_crop(chair_mask, affine, size).split()[0])
            keep = Image.fromarray(np.maximum(person, chair).astype(np.uint8), "L")
            crop = Image.composite(crop, self._background(rng, affine, frame, size), keep)
        for do, channel in ((do_ub, 1), (do_lb, 2)):
            if do:
                region = _opened(ImageOps.invert(masks[channel]))
                crop = Image.composite(self._texture(rng, crop, affine, frame), crop, region)
        return crop

    def _background(self, rng: np.random.Generator, affine: np.ndarray, frame: tuple[int, int], size: int) -> Image.Image:
        bg = _rgb(self.backgrounds[int(rng.integers(len(self.backgrounds)))])
        if min(bg.size) < REFERENCE_SIDE:
            k = REFERENCE_SIDE / min(bg.size)
            bg = bg.resize((max(REFERENCE_SIDE, round(bg.width * k)), max(REFERENCE_SIDE, round(bg.height * k))))
        x0 = int(rng.integers(bg.width - REFERENCE_SIDE + 1))
        y0 = int(rng.integers(bg.height - REFERENCE_SIDE + 1))
        # the random 768 crop (and mirror) as one map from the frame: frame -> crop window of the background
        window = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1]])
        if rng.random() < 0.5:
            window = np.array([[-1.0, 0, REFERENCE_SIDE], [0, 1, 0], [0, 0, 1]]) @ window
        side = (REFERENCE_SIDE, REFERENCE_SIDE)
        return warp_crop(bg, _frame_map(affine, frame, side) @ window, size)

    def _texture(self, rng: np.random.Generator, crop: Image.Image, affine: np.ndarray,
                 frame: tuple[int, int]) -> Image.Image:
        tex = _grey(self.textures[int(rng.integers(len(self.textures)))])
        colour = tuple(int(c) for c in rng.integers(50, 256, 3))
        tex = warp_crop(ImageOps.colorize(tex, "black", colour), _frame_map(affine, frame, tex.size), crop.size[0])
        grey = np.asarray(crop, np.float32).mean(-1, keepdims=True) / 255  # 1 - the reference's "blackness"
        return Image.fromarray(np.round(np.asarray(tex, np.float32) * grey).astype(np.uint8))

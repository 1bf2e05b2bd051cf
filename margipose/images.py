"""Image input for training and inference: one decode at the coarsest JPEG DCT scale the crop allows, one
bilinear warp into the crop, the reference's colour jitter, and conversion to a tensor.

The crop maps ``side`` original pixels onto ``size`` crop pixels. When ``side / size >= s`` for s in 8, 4, 2,
libjpeg can decode the file at 1/s (``Image.draft``: the inverse DCT is evaluated at reduced size, a box
low-pass in one step) with still at least one decoded pixel per crop pixel, so the crop loses nothing and
the colour conversion, the decoder's output and the warp all touch s^2 fewer pixels. The warp is the
reference's (Pillow affine, bilinear) with the map composed for the decoded scale: decoded pixel j covers
original pixels [s j, s j + s), so original = s * decoded in continuous pixel coordinates.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

DCT_SCALES = (8, 4, 2)  # the reductions libjpeg's scaled inverse DCT offers (besides 1)


class ImageFileError(ValueError):
    """An image named by a prepared file is missing, unreadable, or outside the data folder."""


def resolve_image(root: str | os.PathLike, relative: str) -> Path:
    """``root/relative``, refusing empty names and paths that would leave ``root``."""
    root = Path(root)
    if not relative:
        raise ImageFileError(f"{root}: a row has no extracted image ('' in column 'image')")
    rel = Path(str(relative).replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise ImageFileError(f"{root}: image path {relative!r} leaves the data folder")
    return root / rel


def open_rgb(path: Path) -> Image.Image:
    """Open an image as RGB, with a one-line error naming the file when that fails."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise ImageFileError(f"{path}: image file not found") from None
    except OSError as e:
        raise ImageFileError(f"{path}: unreadable image ({e})") from None


def warp_crop(image: Image.Image, affine: np.ndarray, size: int) -> Image.Image:
    """Warp ``image`` into the crop given the (3,3) original->crop pixel map (bilinear)."""
    inv = np.linalg.inv(affine)
    return image.transform((size, size), Image.Transform.AFFINE, data=tuple(inv[:2].ravel()),
                           resample=Image.Resampling.BILINEAR)


def colour_jitter(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Brightness, contrast, saturation (each p 0.3, factor U(0.8, 1.2)) and hue (p 0.3, U(+-0.1) turn)."""
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        if rng.random() < 0.3:
            image = enhancer(image).enhance(rng.uniform(0.8, 1.2))
    if rng.random() < 0.3:
        hsv = np.asarray(image.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(round(rng.uniform(-0.1, 0.1) * 255))) % 256
        image = Image.fromarray(hsv, "HSV").convert("RGB")
    return image


def to_tensor(image: Image.Image) -> torch.Tensor:
    """(3,H,W) float32 in [0, 1] (one pass from the image's bytes)."""
    pixels = np.asarray(image, dtype=np.uint8)
    out = np.empty((3, *pixels.shape[:2]), np.float32)
    np.multiply(pixels.transpose(2, 0, 1), np.float32(1 / 255), out=out)
    return torch.from_numpy(out)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the file's header (no decode)."""
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise ImageFileError(f"{path}: image file not found") from None
    except OSError as e:
        raise ImageFileError(f"{path}: unreadable image ({e})") from None


def draft_scale(affine: np.ndarray) -> int:
    """The largest JPEG DCT reduction (1, 2, 4 or 8) that keeps >= 1 decoded pixel per crop pixel for the
    (3,3) original->crop pixel map (its largest singular value is crop px per original px)."""
    density = float(np.linalg.norm(np.asarray(affine, np.float64)[:2, :2], 2))
    return next((s for s in DCT_SCALES if s * density <= 1.0), 1)


def read_crop(path: str | os.PathLike, affine: np.ndarray, size: int) -> Image.Image:
    """Decode ``path`` (at a reduced JPEG DCT scale where the crop allows) and warp it once into the
    ``size`` x ``size`` crop given by the (3,3) original->crop pixel map ``affine``."""
    path = Path(path)
    affine = np.asarray(affine, np.float64)
    try:
        with Image.open(path) as im:
            width, height = im.size
            scale = draft_scale(affine) if im.format == "JPEG" else 1
            if scale > 1:
                im.draft("RGB", (width // scale, height // scale))
                scale = next((s for s in (*DCT_SCALES, 1) if -(-width // s) == im.size[0]), 1)
            if im.mode != "RGB":
                im = im.convert("RGB")
            return warp_crop(im, affine @ np.diag([scale, scale, 1.0]), size)
    except FileNotFoundError:
        raise ImageFileError(f"{path}: image file not found") from None
    except OSError as e:
        raise ImageFileError(f"{path}: unreadable image ({e})") from None

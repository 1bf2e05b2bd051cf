"""Image input for training and inference: one decode at the coarsest JPEG DCT scale the crop allows, one
bilinear warp into the crop, the reference's colour jitter, and conversion to a tensor.

The crop maps ``side`` original pixels onto ``size`` crop pixels. When ``side / size >= s`` for s in 8, 4, 2,
libjpeg can decode the file at 1/s (``Image.draft``: the inverse DCT is evaluated at reduced size, a box
low-pass in one step) with still at least one decoded pixel per crop pixel, so the crop loses nothing and
the colour conversion, the decoder's output and the warp all touch s^2 fewer pixels. The warp is the
reference's (Pillow affine, bilinear) with the map composed for the decoded scale: decoded pixel j covers
original pixels [s j, s j + s), so original = s * decoded in continuous pixel coordinates.

A frame with restart markers tiling its MCU rows (as ``posebench prepare`` writes them) is decoded only over
the restart segments the crop reads, plus one MCU of margin (margipose.jpeg_parts): the decoder never
entropy-decodes the rest of the frame, and the pixels the crop reads are the whole frame's, bit for bit. The
part goes straight to Pillow's libjpeg decoder (no second header parse in Python; Image.open's route when that
decoder is missing or the frame is not 3-component). Any other baseline JPEG is decoded top to bottom and
stopped after the last row the crop reads (its lowest corner plus the bilinear neighbour): the rows below the
person (a quarter to a third of a studio frame) are never entropy-decoded. Either way the warp sees exactly
the pixels it would read from the whole image, so the crop is the same bit for bit. ``prepare_crop`` (read,
cut) and ``decode_crop`` are separate steps so that a batch can ready all its items before it decodes any.
The training crops go through margipose.pixels, whose compiled warp and jitter equal these Pillow functions
bit for bit and run 5-8x faster.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFile

from margipose import jpeg_parts
from posebench.errors import PosebenchError

DCT_SCALES = (8, 4, 2)  # the reductions libjpeg's scaled inverse DCT offers (besides 1)


class ImageFileError(PosebenchError):
    """An image named by a prepared file is missing, unreadable, or outside the data folder."""


def resolve_image(root: str | os.PathLike, relative: str) -> Path:
    """``root/relative``, refusing empty names and paths that would leave ``root`` (absolute, a drive, or a
    ``..`` component; backslashes count as separators). String tests: this runs once per training item."""
    if not relative:
        raise ImageFileError(f"{root}: a row has no extracted image ('' in column 'image')")
    rel = str(relative).replace("\\", "/")
    if rel.startswith("/") or rel[1:2] == ":" or "/../" in f"/{rel}/":
        raise ImageFileError(f"{root}: image path {relative!r} leaves the data folder")
    return Path(f"{os.fspath(root)}/{rel}")


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
    return _transform(image, np.linalg.inv(affine), size)


def _transform(image: Image.Image, inverse: np.ndarray, size: int) -> Image.Image:
    return image.transform((size, size), Image.Transform.AFFINE, data=tuple(inverse[:2].ravel()),
                           resample=Image.Resampling.BILINEAR)


class Jitter(NamedTuple):
    """One draw of the colour jitter: enhancement factors (1.0: off) and the hue shift in 1/256 turns (None: off;
    0 still makes the HSV round trip, which quantises, as the reference's draw did)."""

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: int | None = None


NO_JITTER = Jitter()


def draw_jitter(rng: np.random.Generator) -> Jitter:
    """Brightness, contrast, saturation (each p 0.3, factor U(0.8, 1.2)) and hue (p 0.3, U(+-0.1) turn)."""
    factors = [rng.uniform(0.8, 1.2) if rng.random() < 0.3 else 1.0 for _ in range(3)]
    hue = int(round(rng.uniform(-0.1, 0.1) * 255)) if rng.random() < 0.3 else None
    return Jitter(*factors, hue)


def apply_jitter(image: Image.Image, jitter: Jitter) -> Image.Image:
    """The jitter with Pillow: ImageEnhance Brightness, Contrast, Color, then the hue shifted through HSV."""
    for enhancer, factor in zip((ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color), jitter[:3]):
        if factor != 1.0:
            image = enhancer(image).enhance(factor)
    if jitter.hue is not None:
        hsv = np.asarray(image.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + jitter.hue) % 256
        image = Image.fromarray(hsv, "HSV").convert("RGB")
    return image


def colour_jitter(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Brightness, contrast, saturation (each p 0.3, factor U(0.8, 1.2)) and hue (p 0.3, U(+-0.1) turn)."""
    return apply_jitter(image, draw_jitter(rng))


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
    (a, b), (c, d) = np.asarray(affine, np.float64)[:2, :2].tolist()
    density = 0.5 * (math.hypot(a + d, b - c) + math.hypot(a - d, b + c))  # the 2x2 largest singular value
    return next((s for s in DCT_SCALES if s * density <= 1.0), 1)


def _rows_needed(inverse: np.ndarray, size: int, height: int) -> int:
    """Source rows (from the top) that a bilinear ``size`` crop through the (3,3) crop->source map reads."""
    corners = inverse[1, :2] @ np.array([[0.0, 0.0, size, size], [0.0, size, 0.0, size]]) + inverse[1, 2]
    return int(min(height, max(1, np.floor(corners.max()) + 2)))  # + the bilinear neighbour below


def _stop_early(im: Image.Image, rows: int) -> bool:
    """Make a baseline JPEG's pending decode end after ``rows`` rows (as ``JpegImageFile.draft`` edits the
    tile); False, untouched, for anything else (progressive files read the whole stream anyway)."""
    if rows >= im.size[1] or im.format != "JPEG" or im.info.get("progressive") or len(im.tile) != 1:
        return False
    tile = im.tile[0]
    if tile[0] != "jpeg" or tuple(tile[1][:2]) != (0, 0):
        return False
    box = (0, 0, im.size[0], rows)
    im.tile = [tile._replace(extents=box) if hasattr(tile, "_replace") else (tile[0], box, *tile[2:])]
    im._size = (im.size[0], rows)
    return True


def _load(im: Image.Image, early: bool) -> None:
    """Decode; a decode stopped early ends with libjpeg refusing to finish a partial image (Pillow's
    "broken data stream", raised after the rows are in): that one error is expected and ignored. A file cut
    short above the last needed row still fails ("image file is truncated")."""
    try:
        im.load()
    except OSError as e:
        if not (early and "broken data stream" in str(e) and im.im is not None):
            raise


def _load_from(im: Image.Image, affine: np.ndarray, size: int, origin: tuple[int, int] = (0, 0),
               frame: tuple[int, int] | None = None, early: bool = True) -> "Decoded":
    """Decode an opened image (the frame, or a part of it whose top-left is ``origin`` frame px in a frame of
    ``frame`` px) for the crop: at the coarsest JPEG DCT scale the crop allows and, for a baseline JPEG with
    ``early``, only down to the last row it reads."""
    affine = np.asarray(affine, np.float64)
    width, height = im.size
    frame = frame or (width, height)
    scale = draft_scale(affine) if im.format == "JPEG" else 1
    if scale > 1:
        im.draft("RGB", (width // scale, height // scale))
        scale = next((s for s in (*DCT_SCALES, 1) if -(-width // s) == im.size[0]), 1)
    inverse = np.linalg.inv(affine @ np.diag([scale, scale, 1.0]))
    decoded = Decoded(im, inverse, (origin[0] // scale, origin[1] // scale), _at_scale(frame, scale))
    _load(im, early and _stop_early(im, _rows_needed(decoded.local(), size, im.size[1])))
    return decoded


def decode_for_crop(im: Image.Image, affine: np.ndarray, size: int) -> tuple[Image.Image, np.ndarray]:
    """Decode an opened image for the crop: at the coarsest JPEG DCT scale it allows and, for a baseline
    JPEG, only down to the last row it reads. Returns the image and the crop->decoded pixel map (3,3)."""
    decoded = _load_from(im, affine, size)
    return decoded.image, decoded.inverse


def _at_scale(size: tuple[int, int], scale: int) -> tuple[int, int]:
    """A width and height of frame pixels as libjpeg decodes them at 1/``scale`` (rounded up)."""
    return -(-size[0] // scale), -(-size[1] // scale)


class Decoded(NamedTuple):
    """What a crop reads: decoded pixels (the frame at a DCT scale, or the part of it the crop needs) and
    the crop->frame map in that scale's pixels."""

    image: Image.Image       # RGB
    inverse: np.ndarray      # (3,3) crop -> decoded-frame pixel map
    origin: tuple[int, int]  # the image's top-left in decoded-frame pixels ((0, 0): the whole frame)
    frame: tuple[int, int]   # the decoded frame's width, height

    def local(self) -> np.ndarray:
        """The (3,3) crop -> image map (the frame map moved to the image's corner), for warping the image alone."""
        local = self.inverse.copy()
        local[:2, 2] -= self.origin
        return local


def _crop_box(inverse: np.ndarray, size: int, scale: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Frame pixels (x0, y0, x1, y1, end exclusive) a bilinear ``size`` crop reads through the (3,3) crop ->
    decoded-frame map at DCT scale ``scale``: its corners' bounding box, widened by two decoded pixels (a sample's
    bilinear neighbours), clipped to the ``width`` x ``height`` frame."""
    (a, b, c), (d, e, f) = inverse[:2].tolist()
    xs = (c, a * size + c, b * size + c, a * size + b * size + c)
    ys = (f, d * size + f, e * size + f, d * size + e * size + f)
    if not all(math.isfinite(v) for v in xs + ys):
        return 0, 0, width, height
    x0, x1 = math.floor(min(xs) * scale) - 2 * scale, math.ceil(max(xs) * scale) + 2 * scale
    y0, y1 = math.floor(min(ys) * scale) - 2 * scale, math.ceil(max(ys) * scale) + 2 * scale
    return min(max(x0, 0), width), min(max(y0, 0), height), min(max(x1, 0), width), min(max(y1, 0), height)


_JPEG_DECODER = getattr(getattr(Image, "core", None), "jpeg_decoder", None)  # Pillow's libjpeg decoder


def _decode_direct(data: bytes, size: tuple[int, int], scale: int) -> Image.Image:
    """A 3-component baseline JPEG held in ``data`` whose frame is ``size`` px at 1/``scale``, decoded into a new
    RGB image by Pillow's own libjpeg decoder fed the bytes at once: the decode that ``Image.open``, ``draft``
    and ``load`` would run, without parsing the header again in Python. ``size`` must be the file's at that
    scale (the caller wrote its SOF): the decoder is told it, as Pillow tells it the size it parsed."""
    image = Image.new("RGB", size, None)
    decoder = _JPEG_DECODER("RGB", "RGBX", "", scale, 0)  # RGBX out: Pillow's RGB layout, copied as is
    try:
        decoder.setimage(image.im, (0, 0, *size))
        consumed, error = decoder.decode(data)
    finally:
        decoder.cleanup()
    if error < 0:
        raise OSError(f"decoder error {error} ({ImageFile.ERRORS.get(error, 'unknown error')})")
    if consumed >= 0:  # the decoder still wanted data
        raise OSError("image file is truncated")
    return image


class PendingCrop(NamedTuple):
    """A crop's decode made ready: the file read and, for a tiled frame, the part the crop reads cut out;
    nothing decoded yet. A batch readies all its items before it decodes any (Pose3DDataset.__getitems__),
    so the bookkeeping runs together instead of between the decoder's and the warp's working sets."""

    path: str | os.PathLike
    affine: np.ndarray                 # (3,3) frame -> crop pixel map
    size: int                          # crop side, px
    data: bytes                        # the whole file (piece None), else the part's JPEG
    piece: jpeg_parts.Part | None      # the part (frame px), or None: the file is decoded as decode_for_crop does
    frame: tuple[int, int]             # the frame's width, height, px
    components: int                    # the frame's colour components (tiled frames)
    scale: int                         # the part's DCT scale
    inverse: np.ndarray | None         # (3,3) crop -> decoded-frame map at that scale


def prepare_crop(path: str | os.PathLike, affine: np.ndarray, size: int) -> PendingCrop:
    """Read ``path`` and, when its restart markers tile the frame (as ``posebench prepare`` writes them), cut
    out the part a ``size`` crop through ``affine`` reads at its DCT scale (margipose.jpeg_parts). A missing or
    unreadable file is one ImageFileError naming it."""
    try:
        with open(path, "rb", buffering=0) as file:
            data = file.read()
    except FileNotFoundError:
        raise ImageFileError(f"{path}: image file not found") from None
    except OSError as e:
        raise ImageFileError(f"{path}: unreadable image ({e})") from None
    affine = np.asarray(affine, np.float64)
    tiles = jpeg_parts.tiling(data)
    if tiles is None:
        return PendingCrop(path, affine, size, data, None, (0, 0), 0, 1, None)
    scale = draft_scale(affine)
    inverse = np.linalg.inv(affine @ np.diag([scale, scale, 1.0]))
    piece = jpeg_parts.part(data, tiles, _crop_box(inverse, size, scale, tiles.width, tiles.height))
    return PendingCrop(path, affine, size, piece.data, piece, (tiles.width, tiles.height), tiles.components, scale,
                       inverse)


def decode_crop(pending: PendingCrop) -> Decoded:
    """Decode what ``prepare_crop`` readied: a tiled frame's part at the crop's DCT scale (every row: it
    already ends one MCU below the crop's last row), any other file as ``decode_for_crop`` does. The pixels
    the crop reads are the whole frame's, bit for bit. A damaged file is one ImageFileError naming it."""
    path, affine, size, data, piece, frame, components, scale, inverse = pending
    try:
        if piece is None:
            decoded = _load_from(Image.open(io.BytesIO(data)), affine, size)
        elif components == 3 and _JPEG_DECODER is not None and piece.width * piece.height <= (
                Image.MAX_IMAGE_PIXELS or math.inf):  # larger: Image.open's route and its bomb check
            image = _decode_direct(data, _at_scale((piece.width, piece.height), scale), scale)
            decoded = Decoded(image, inverse, (piece.x // scale, piece.y // scale), _at_scale(frame, scale))
        else:
            decoded = _load_from(Image.open(io.BytesIO(data)), affine, size, (piece.x, piece.y), frame, early=False)
        return decoded if decoded.image.mode == "RGB" else decoded._replace(image=decoded.image.convert("RGB"))
    except OSError as e:
        raise ImageFileError(f"{path}: unreadable image ({e})") from None


def decode_path_for_crop(path: str | os.PathLike, affine: np.ndarray, size: int) -> Decoded:
    """``path`` decoded for the crop as ``decode_for_crop`` does; a JPEG whose restart markers tile the frame
    (as ``posebench prepare`` writes them) is decoded only over the part the crop reads (margipose.jpeg_parts:
    the same pixels there, bit for bit). A missing or unreadable file is one ImageFileError naming it."""
    return decode_crop(prepare_crop(path, affine, size))


def read_crop(path: str | os.PathLike, affine: np.ndarray, size: int) -> Image.Image:
    """Decode ``path`` (as ``decode_path_for_crop``) and warp it once into the ``size`` x ``size`` crop given
    by the (3,3) original->crop pixel map ``affine``."""
    return warp_decoded(decode_path_for_crop(path, affine, size), size)


def warp_decoded(decoded: Decoded, size: int) -> Image.Image:
    """The ``size`` x ``size`` crop of decoded pixels (Pillow's bilinear affine warp of the image alone)."""
    return _transform(decoded.image, decoded.local(), size)

"""The training crops as (3, H, W) planes: read (decode for the crop, one warp), jitter, tensor; compiled or Pillow.

With numba installed (the optional ``fast`` extra) the warp and the colour jitter run as compiled kernels
(``margipose._pixels_numba``) that reproduce Pillow's arithmetic exactly, so both paths give the same tensors
bit for bit (tests/margipose/test_mp_pixels.py); without numba, or with ``POSEBENCH_NUMBA=0``, Pillow does
the work (``images.read_crop``, ``images.apply_jitter``, ``images.to_tensor``). The kernel module is imported
on the first crop; numba caches the compiled code on disk, so only the first process on a machine compiles
(a few seconds), later ones load it. Measured per 256 crop on one core (benchmarks/bench_margipose_input.py):
warp 0.25 ms without rotation (source rows and columns computed once) and 0.32 rotated, against Pillow's
1.5 ms; colour jitter 0.02-0.04 ms a step (hue 0.23) against 0.4-0.6 (hue 3.8).

Normalisation (ImageNet mean and std) happens inside the model; the tensor here is RGB / 255 in [0, 1], or the
RGB bytes (``dtype=torch.uint8``, what ``margipose train`` feeds): a quarter of the memory to write, collate, pin
and copy, and no fresh 768 KiB float buffer per 256 crop, whose page faults cost the build VM ~0.4 ms an item;
the model scales bytes by float32(1/255) as the float tensor here is made, so both give the same input.
"""
from __future__ import annotations

import ctypes
import os
from types import ModuleType

import numpy as np
import torch
from PIL import Image

from margipose import kernels
from margipose.images import (NO_JITTER, Decoded, Jitter, apply_jitter, decode_path_for_crop, to_tensor,
                              warp_crop, warp_decoded)

ENABLE_ENV = kernels.ENABLE_ENV  # "0" / "false" / "no": Pillow only (the switch posebench's kernels use)

_kernel: ModuleType | None = None
_unavailable = False


def _load() -> ModuleType | None:
    """The kernel module (imported on first call), or None: numba missing, switched off, or a big-endian CPU."""
    global _kernel, _unavailable
    if _kernel is None and not _unavailable:
        _kernel = kernels.load("_pixels_numba")
        _unavailable = _kernel is None
    return _kernel


class _ArrowArray(ctypes.Structure):
    """The Arrow C data interface's ArrowArray (a stable ABI), as Pillow exports an image's pixels."""


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64), ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))), ("dictionary", ctypes.c_void_p),
    ("release", ctypes.c_void_p), ("private_data", ctypes.c_void_p)]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _rgbx(im: Image.Image) -> tuple[np.ndarray, object]:
    """(h, w) uint32 RGBX pixels of a loaded RGB image and the object that keeps them alive: Pillow's own
    memory through its Arrow export (Pillow >= 11.2, image in one block), else a copy (``tobytes``)."""
    width, height = im.size
    try:
        capsule = im.im.__arrow_c_array__()
        array = _ArrowArray.from_address(_capsule_pointer(capsule, b"arrow_array"))
        child = array.children[0].contents if array.n_children == 1 else None
        if child is None or child.length != 4 * width * height or child.n_buffers != 2 or not child.buffers[1]:
            raise ValueError("unexpected Arrow layout")
        memory = (ctypes.c_uint32 * (width * height)).from_address(child.buffers[1])
        return np.frombuffer(memory, np.uint32).reshape(height, width), capsule
    except (AttributeError, ValueError, TypeError):  # older Pillow, or an image in several blocks
        data = im.tobytes("raw", "RGBX")
        return np.frombuffer(data, np.uint32).reshape(height, width), data


def compiled() -> bool:
    """True when the crops are made by the compiled kernels (numba installed and not switched off)."""
    return _load() is not None


def set_compiled(enabled: bool) -> bool:
    """Use the compiled kernels (when they can load) or Pillow from now on in this process; returns compiled()."""
    global _kernel, _unavailable
    if enabled:
        _unavailable = False
        return compiled()
    _kernel, _unavailable = None, True
    return False


def read_planes(path: str | os.PathLike, affine: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` crop of ``path`` through the (3,3) original->crop pixel map, as (3, size, size)
    uint8 planes (decoded at the coarsest DCT scale the crop allows and only where it reads)."""
    return decoded_planes(decode_path_for_crop(path, affine, size), size)


def decoded_planes(decoded: Decoded, size: int) -> np.ndarray:
    """(3, size, size) uint8 planes of a crop's decoded pixels (images.decode_crop), warped once."""
    kernel = _load()
    if kernel is None:
        return image_planes(warp_decoded(decoded, size))
    return _warp(kernel, decoded.image, decoded.inverse, size, decoded.origin, decoded.frame)


def warp_planes(image: Image.Image, affine: np.ndarray, size: int) -> np.ndarray:
    """(3, size, size) uint8 planes of an RGB image (already decoded, e.g. reused for every crop of a ten-crop)
    warped through the (3,3) original->crop pixel map: Pillow's bilinear affine warp, bit for bit."""
    kernel = _load()
    image = image if image.mode == "RGB" else image.convert("RGB")
    if kernel is None:
        return image_planes(warp_crop(image, affine, size))
    image.load()
    return _warp(kernel, image, np.linalg.inv(np.asarray(affine, np.float64)), size)


def _warp(kernel: ModuleType, image: Image.Image, inverse: np.ndarray, size: int, origin: tuple[int, int] = (0, 0),
          frame: tuple[int, int] | None = None) -> np.ndarray:
    """The compiled warp of a loaded RGB image (the frame, or the part of it from ``origin`` on) through the
    (3,3) crop->frame map, read in place."""
    source, owner = _rgbx(image)
    out = np.empty((3, size, size), np.uint8)
    fw, fh = frame or image.size
    kernel.warp(source, np.ascontiguousarray(inverse[:2].ravel()), out, int(origin[0]), int(origin[1]), int(fw), int(fh))
    del source, owner  # Pillow's pixels are released with the export
    return out


def planes_to_tensor(planes: np.ndarray, jitter: Jitter = NO_JITTER, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(3, H, W) tensor of uint8 planes after the colour ``jitter`` (Pillow's, exactly): float32 RGB / 255 in
    [0, 1], or with ``dtype=torch.uint8`` the jittered bytes themselves, a quarter of the memory, for a model
    that scales them where it runs (MargiPose does, to the same float32 values). The planes are consumed: the
    compiled jitter works in place."""
    if dtype not in (torch.float32, torch.uint8):
        raise ValueError(f"image tensors are torch.float32 or torch.uint8, not {dtype}")
    kernel = _load()
    if kernel is None:
        if jitter == NO_JITTER and dtype == torch.uint8:
            return torch.from_numpy(np.ascontiguousarray(planes, np.uint8))
        image = planes_image(planes)
        image = apply_jitter(image, jitter) if jitter != NO_JITTER else image
        return to_tensor(image) if dtype == torch.float32 else torch.from_numpy(image_planes(image))
    work = np.ascontiguousarray(planes, np.uint8)
    args = (float(jitter.brightness), float(jitter.contrast), float(jitter.saturation), jitter.hue is not None,
            int(jitter.hue or 0))
    if dtype == torch.uint8:
        if jitter != NO_JITTER:
            kernel.adjust(work, *args)
        return torch.from_numpy(work)
    out = np.empty(work.shape, np.float32)
    kernel.jitter(work, *args, out)
    return torch.from_numpy(out)


def planes_image(planes: np.ndarray) -> Image.Image:
    """An RGB Pillow image of (3, H, W) uint8 planes (a copy)."""
    return Image.fromarray(np.ascontiguousarray(np.asarray(planes, np.uint8).transpose(1, 2, 0)), "RGB")


def image_planes(image: Image.Image) -> np.ndarray:
    """(3, H, W) uint8 planes of a Pillow image, as RGB (a copy)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb).transpose(2, 0, 1))

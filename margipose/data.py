"""Training data: torch Datasets over prepared files (3D: Human3.6M / MPI-INF-3DHP; 2D: MPII), the
reference augmentation, and a sampler that mixes two datasets half and half.

Images are read from ``DATA/<dataset>/<image>`` and warped straight into the crop camera (margipose.coords) by
margipose.pixels (compiled with numba, else Pillow: the same tensors either way); targets are NDC coordinates
of the crop, with joints swapped on a mirror flip.
"""
from __future__ import annotations

import bisect
import operator
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Sampler

from posebench.data import PreparedData, read_prepared
from posebench.skeleton import FLIP_INDICES, ROOT

from margipose import coords
from margipose.composite import Compositor
from margipose.images import (NO_JITTER, ImageFileError, PendingCrop, colour_jitter, decode_crop, draw_jitter,
                              image_size, open_rgb, prepare_crop, read_crop, resolve_image, to_tensor, warp_crop)
from margipose.pixels import decoded_planes, image_planes, planes_image, planes_to_tensor
from margipose.rowcrop import augmentation_row, crop_affine, crop_row

__all__ = ["ImageFileError", "colour_jitter", "open_rgb", "read_crop", "resolve_image", "to_tensor", "warp_crop",
           "Pose3DDataset", "Pose2DDataset", "PlannedConcatDataset", "MixedSampler", "EpochSampler", "FLIP"]

FLIP = np.asarray(FLIP_INDICES)
BOX_FACTOR = 1.5


def _load(source: str | os.PathLike | PreparedData) -> PreparedData:
    return source if isinstance(source, PreparedData) else read_prepared(source)


def _rows_with_images(data: PreparedData) -> np.ndarray:
    """Rows whose image was extracted (prepared training files keep every pose row, images for some)."""
    rows = np.flatnonzero(np.asarray(data["image"], dtype=object) != "")
    if len(rows) == 0:
        raise ImageFileError(f"{data.path}: no row has an extracted image (column 'image' is all ''); "
                             f"prepare with images")
    return rows


class _ImageRows(Dataset):
    """The rows with extracted images of a prepared file of one kind, and what both datasets share."""

    kind, kind_name = "3d", "3D"

    def _open(self, source: str | os.PathLike | PreparedData, image_root: str | os.PathLike | None,
              input_size: int, augment: bool, seed: int, image_dtype: torch.dtype) -> PreparedData:
        if image_dtype not in (torch.float32, torch.uint8):
            raise ValueError(f"image_dtype is torch.float32 or torch.uint8, not {image_dtype}")
        data = _load(source)
        if data.attrs.get("kind", "3d") != self.kind:
            raise ValueError(f"{data.path}: expected a {self.kind_name} prepared file, got kind {data.attrs.get('kind')!r}")
        self.path = data.path
        self.content_hash = data.content_hash
        self.root = Path(image_root) if image_root is not None else Path(data.path).parent
        self.rows = _rows_with_images(data)
        self.images = np.asarray(data["image"], dtype=object)[self.rows]
        self.size, self.augment, self.seed, self.image_dtype = input_size, augment, seed, image_dtype
        self.epoch = 0
        return data

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._make(self._plan(_position(index, len(self))))

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """A batch's items (torch's DataLoader calls this when a dataset has it): every item's draws, geometry,
        file read and part first, then each one's decode, warp and jitter, so the bookkeeping is not run
        between the decoder's and the warp's working sets. The same items as one by one, in ~10 % less CPU
        an item on the build VM."""
        return _planned_batch(self, indices)

    def _plan(self, index: int) -> "_Planned":
        raise NotImplementedError

    def _make(self, planned: "_Planned") -> dict[str, Any]:
        raise NotImplementedError


class _Planned(NamedTuple):
    """An item readied by ``_plan``: its draws, target and crop, its file read (images.prepare_crop)."""

    index: int
    rng: np.random.Generator | None  # the item's generator (None: no augmentation); the jitter is drawn from it last
    affine: np.ndarray               # (3,3) frame -> crop
    target: np.ndarray               # (J,3) NDC
    mask: np.ndarray | None          # (J,) joints labelled (None: all)
    path: Path
    pending: PendingCrop


class Pose3DDataset(_ImageRows):
    """Rows (with images) of a 3D prepared file -> image crop, NDC target (17,3), mask, has_depth=True.

    The image is (3, S, S) float32 RGB in [0, 1], or its bytes with ``image_dtype=torch.uint8`` (as training
    feeds the model, which scales them to the same floats; margipose.pixels.planes_to_tensor). With
    ``backgrounds`` / ``textures`` folders and an MPI-INF-3DHP training file holding ``fg_mask`` and
    ``chair_mask`` paths, augmentation includes the reference's compositing (margipose.composite)."""

    def __init__(self, source: str | os.PathLike | PreparedData, image_root: str | os.PathLike | None = None,
                 input_size: int = 256, augment: bool = False, seed: int = 0,
                 backgrounds: str | os.PathLike | None = None, textures: str | os.PathLike | None = None,
                 image_dtype: torch.dtype = torch.float32) -> None:
        data = self._open(source, image_root, input_size, augment, seed, image_dtype)
        self.joints3d = np.asarray(data["joints3d"], np.float64)[self.rows]
        self.joints2d = np.asarray(data["joints2d"], np.float64)[self.rows]
        self.intrinsics = np.asarray(data["intrinsics"], np.float64)[self.rows]
        self.centres, self.sides = coords.square_box(coords.joints_box(self.joints2d), BOX_FACTOR)
        self.compositor = Compositor(backgrounds, textures)
        columns = set(data.columns)
        if self.compositor and not {"fg_mask", "chair_mask"} <= columns:
            raise ImageFileError(f"{data.path}: --backgrounds/--textures need the fg_mask and chair_mask columns "
                                 f"(prepare the MPI-INF-3DHP training set with its mask videos)")
        masks = self.compositor and {"fg_mask", "chair_mask"} <= columns
        self.sequences = np.asarray(data["sequence"], dtype=object)[self.rows]
        self.fg_masks = np.asarray(data["fg_mask"], dtype=object)[self.rows] if masks else None
        self.chair_masks = np.asarray(data["chair_mask"], dtype=object)[self.rows] if masks else None

    def _mask_path(self, paths: np.ndarray | None, index: int) -> Path | None:
        return resolve_image(self.root, paths[index]) if paths is not None and paths[index] else None

    def _composite(self, image: Any, path: Path, affine: np.ndarray, index: int) -> Any:
        rng = np.random.default_rng((self.seed, self.epoch, index, 3))
        return self.compositor.apply(image, rng, str(self.sequences[index]), self._mask_path(self.fg_masks, index),
                                     self._mask_path(self.chair_masks, index), self.joints2d[index], affine,
                                     image_size(path))

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, self.epoch, index))

    def _plan(self, index: int) -> _Planned:
        rng = self._rng(index) if self.augment else None
        jx, jy, zoom, rotation, flip = 0.0, 0.0, 1.0, 0.0, False
        if rng is not None:
            jx, jy, zoom, rotation, flip = augmentation_row(rng, "3d")
        cx, cy = self.centres[index].tolist()
        affine, target = crop_row(self.intrinsics[index], (cx + jx, cy + jy), self.sides[index] / zoom,
                                  self.size, rotation, flip, self.joints3d[index], ROOT)
        if flip:
            target = target[FLIP]
        path = resolve_image(self.root, self.images[index])
        return _Planned(index, rng, affine, target, None, path, prepare_crop(path, affine, self.size))

    def _make(self, planned: _Planned) -> dict[str, Any]:
        index, rng, affine, target, _, path, pending = planned
        planes = decoded_planes(decode_crop(pending), self.size)
        if rng is not None and self.fg_masks is not None:
            planes = image_planes(self._composite(planes_image(planes), path, affine, index))
        image = planes_to_tensor(planes, draw_jitter(rng) if rng is not None else NO_JITTER, self.image_dtype)
        return {"image": image, "target": torch.from_numpy(target.astype(np.float32)),
                "mask": torch.ones(len(target), dtype=torch.bool), "has_depth": torch.tensor(True)}


class Pose2DDataset(_ImageRows):
    """Rows of an MPII prepared file -> image crop, NDC xy target (z = 0), mask, has_depth=False.

    The box is centred at centre + (0, 15 s) with side 250 s; the camera is assumed (focal 1.2 x image width,
    principal point at the image centre); joints leaving the crop are masked out."""

    kind, kind_name = "2d", "2D (MPII)"

    def __init__(self, source: str | os.PathLike | PreparedData, image_root: str | os.PathLike | None = None,
                 input_size: int = 256, augment: bool = False, seed: int = 0,
                 image_dtype: torch.dtype = torch.float32) -> None:
        data = self._open(source, image_root, input_size, augment, seed, image_dtype)
        self.joints2d = np.asarray(data["joints2d"], np.float64)[self.rows]
        self.mask = np.asarray(data["mask"], bool)[self.rows]
        self.centre = np.asarray(data["centre"], np.float64)[self.rows]
        self.scale = np.asarray(data["scale"], np.float64)[self.rows]
        self.frame_sizes: dict[int, tuple[int, int]] = {}

    def _frame_size(self, index: int, path: Path) -> tuple[int, int]:
        """(width, height) of the row's image, read from its header once per process."""
        if index not in self.frame_sizes:
            self.frame_sizes[index] = image_size(path)
        return self.frame_sizes[index]

    def _plan(self, index: int) -> _Planned:
        rng = np.random.default_rng((self.seed, self.epoch, index, 2)) if self.augment else None
        zoom, rotation, flip = 1.0, 0.0, False
        if rng is not None:
            _, _, zoom, rotation, flip = augmentation_row(rng, "2d")
        path = resolve_image(self.root, self.images[index])
        w, h = self._frame_size(index, path)
        s = self.scale[index]
        centre = (self.centre[index, 0], self.centre[index, 1] + 15.0 * s)
        affine = crop_affine((1.2 * w, 1.2 * w, w / 2, h / 2), centre, 250.0 * s / zoom, self.size, rotation, flip)
        xy = 2 * (self.joints2d[index] @ affine[:2, :2].T + affine[:2, 2]) / self.size - 1
        mask = self.mask[index] & np.all(np.isfinite(xy), axis=-1)
        if flip:
            xy, mask = xy[FLIP], mask[FLIP]
        mask = mask & np.all(np.abs(np.nan_to_num(xy, nan=2.0)) < 1, axis=-1)
        target = np.concatenate([np.nan_to_num(xy), np.zeros((len(xy), 1))], axis=-1)
        return _Planned(index, rng, affine, target, mask, path, prepare_crop(path, affine, self.size))

    def _make(self, planned: _Planned) -> dict[str, Any]:
        rng, target, mask = planned.rng, planned.target, planned.mask
        planes = decoded_planes(decode_crop(planned.pending), self.size)
        image = planes_to_tensor(planes, draw_jitter(rng) if rng is not None else NO_JITTER, self.image_dtype)
        return {"image": image, "target": torch.from_numpy(target.astype(np.float32)),
                "mask": torch.from_numpy(mask), "has_depth": torch.tensor(False)}


class PlannedConcatDataset(ConcatDataset):
    """torch's ConcatDataset whose batches are made as its parts' ``__getitems__`` make theirs (every item
    readied first, then decoded), whichever parts the indices fall in; items are the same as one by one."""

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        return _planned_batch(self, indices)


def _planned_batch(dataset: Dataset, indices: Sequence[int]) -> list[Any]:
    """``dataset``'s items at ``indices``: every one readied, then every one made."""
    planned = [_plan_of(dataset, i) for i in indices]
    return [make(p) for make, p in planned]


def _plan_of(dataset: Dataset, index: int) -> tuple[Callable[[Any], Any], Any]:
    """(finish, readied item) of ``dataset[index]``, through nested ConcatDatasets; a dataset that cannot
    ready items gives its item, finished."""
    while isinstance(dataset, ConcatDataset):
        index = _position(index, len(dataset))
        part = bisect.bisect_right(dataset.cumulative_sizes, index)
        index -= dataset.cumulative_sizes[part - 1] if part else 0
        dataset = dataset.datasets[part]
    if isinstance(dataset, _ImageRows):
        return dataset._make, dataset._plan(_position(index, len(dataset)))
    return (lambda item: item), dataset[index]


def _position(index: int, n: int) -> int:
    """``index`` as a position in [0, n): negative ones count from the end (so an item's draws, seeded with its
    position, are the same either way); IndexError past the ends."""
    index = operator.index(index)
    position = index + n if index < 0 else index
    if not 0 <= position < n:
        raise IndexError(f"index {index} out of range for {n} items")
    return position


class MixedSampler(Sampler[int]):
    """Indices into ``ConcatDataset([a, b])`` alternating a, b, a, b ... (half and half in every batch).

    Each epoch draws fresh permutations of both datasets (same on every rank); rank r of world_size takes
    every world_size-th element of each, so ranks never share a sample. ``num_samples`` is per rank.
    """

    def __init__(self, len_a: int, len_b: int, num_samples: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        if len_a == 0 or len_b == 0:
            raise ValueError("both datasets of a mixed sampler need rows")
        self.len_a, self.len_b, self.num_samples = len_a, len_b, num_samples
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _stream(self, n: int, count: int, rng: np.random.Generator) -> np.ndarray:
        reps = -(-count * self.world_size // n)
        perm = np.concatenate([rng.permutation(n) for _ in range(reps)])
        return perm[self.rank::self.world_size][:count]

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng((self.seed, self.epoch))
        half = (self.num_samples + 1) // 2
        a = self._stream(self.len_a, half, rng)
        b = self._stream(self.len_b, half, rng) + self.len_a
        out = np.empty(2 * half, dtype=np.int64)
        out[0::2], out[1::2] = a, b
        return iter(out[:self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class EpochSampler(Sampler[int]):
    """``num_samples`` indices per epoch from one dataset (fresh permutation per epoch, rank-sharded)."""

    def __init__(self, length: int, num_samples: int, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if length == 0:
            raise ValueError("the training set has no rows")
        self.length, self.num_samples, self.seed = length, num_samples, seed
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng((self.seed, self.epoch))
        reps = -(-self.num_samples * self.world_size // self.length)
        perm = np.concatenate([rng.permutation(self.length) for _ in range(reps)])
        return iter(perm[self.rank::self.world_size][:self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples

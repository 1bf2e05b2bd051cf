"""bench_margipose_input.py --loader: the input pipeline in a torch DataLoader worker, as training runs it.

One worker, batches collated into shared memory; an arm's images/s per core is (long - short) batches over
the difference of the worker's CPU for long and for short batches, which cancels the worker's start-up (the
CPU of an exited, waited-for worker is in RUSAGE_CHILDREN).
"""
from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from margipose.workers import keep_freed_memory


class BaselineItems(Dataset):
    """The baseline as a Dataset: item i is ``item(files[i], affines[i], 256)``."""

    def __init__(self, files: list[Path], affines: np.ndarray, item: Callable) -> None:
        self.files, self.affines, self.item = files, affines, item

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.item(self.files[i], self.affines[i], 256)


def worker_ms(dataset: Dataset, batches: int, batch: int, tuned: bool) -> float:
    """CPU ms of one DataLoader worker (batches of ``batch``, torch's collate into shared memory) for ``batches``
    batches of ``dataset`` (rows cycled), start-up included: the CPU of the exited worker process."""
    sampler = [i % len(dataset) for i in range(batches * batch)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=1, persistent_workers=False,
                        worker_init_fn=keep_freed_memory if tuned else None)
    for _ in loader:
        pass
    del loader  # the worker has exited and been waited for: its CPU is in RUSAGE_CHILDREN
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return 1e3 * (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def in_workers(arms: dict, repeat: int, batch: int, short: int = 2, long: int = 10) -> dict[str, list[float]]:
    """Images/s per core of each arm {name: (dataset, tuned allocator, setup or None)} in a DataLoader worker,
    once a repeat: (long - short) batches over the difference of their worker CPU, which cancels the start-up;
    the arms take turns."""
    rates: dict[str, list[float]] = {name: [] for name in arms}
    for r in range(repeat):
        for name, (dataset, tuned, setup) in arms.items():
            if setup is not None:
                setup(r)
            a, b = worker_ms(dataset, short, batch, tuned), worker_ms(dataset, long, batch, tuned)
            rates[name].append(1e3 * (long - short) * batch / max(b - a, 1e-9))
    return rates


def measure_in_workers(path: Path, repeat: int, baseline_item: Callable, batch: int) -> dict[str, list[float]]:
    """The --loader table's row: baseline (its faster allocator), ours and ours augmented as `margipose train`
    runs them (uint8 crops, keep_freed_memory), and ours augmented with the Dataset's defaults (float32, glibc's
    thresholds)."""
    from margipose import coords, pixels
    from margipose.data import BOX_FACTOR, Pose3DDataset

    pixels.set_compiled(True)
    plain = Pose3DDataset(path, input_size=256, augment=False, image_dtype=torch.uint8)
    aug = Pose3DDataset(path, input_size=256, augment=True, image_dtype=torch.uint8)
    aug32 = Pose3DDataset(path, input_size=256, augment=True)
    centre, side = coords.square_box(coords.joints_box(plain.joints2d), BOX_FACTOR)
    affines = coords.image_affine(coords.make_crop(plain.intrinsics, centre, side, 256))
    files = [plain.root / "plain" / Path(p).name for p in plain.images]  # the frames without restart markers
    base = BaselineItems(files, affines, baseline_item)

    def epoch(r: int) -> None:
        aug.epoch = aug32.epoch = r  # the same draws for both dtypes (a batch cycles through the rows)

    return in_workers({"baseline": (base, False, None), "baseline tuned": (base, True, None),
                       "ours": (plain, True, None), "ours+aug": (aug, True, epoch),
                       "ours+aug f32 default": (aug32, False, epoch)}, repeat, batch)

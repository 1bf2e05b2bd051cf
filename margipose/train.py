"""`margipose train`: SGD with momentum and the 1cycle schedule over prepared files (research section 7).

One process per device; several GPUs or nodes run under ``torchrun`` (DistributedDataParallel, rank-sharded
samplers). Checkpoints (``OUT/checkpoint.pt``, rewritten every epoch) carry the model config, optimizer
state, progress and the content hashes of the training data, so ``--resume`` continues where it stopped
and refuses changed data. Losses go to ``OUT/log.jsonl``; its first line records the start (backbone weights
or an explicit --no-pretrained, the data files). The paper's recipe is the default: train+val sets, the
ImageNet Inception-v4 backbone (``--backbone-weights``), the reference augmentation including the
MPI-INF-3DHP compositing (margipose.composite) when backgrounds/textures are given. The command line
(margipose/cli.py) is built from :class:`TrainOptions`.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from torch import distributed as dist
from torch.utils.data import DataLoader

from posebench.data import prepared_path
from posebench.errors import PosebenchError
from posebench.io_utils import file_sha256

from margipose.checkpoint import load_checkpoint, save_checkpoint
from margipose.data import EpochSampler, MixedSampler, PlannedConcatDataset, Pose2DDataset, Pose3DDataset
from margipose.loss import margipose_loss
from margipose.model import MargiPose
from margipose.workers import keep_freed_memory

# 1cycle knots as fractions of the run, with learning rate (x lr_max) and momentum (reference values).
CYCLE_AT = (0.0, 0.45, 0.9, 1.0)
CYCLE_LR = (0.1, 1.0, 0.1, 1e-4)
CYCLE_MOMENTUM = (0.9, 0.85, 0.9, 0.9)


class TrainingError(PosebenchError):
    """Training cannot start or continue (bad data folder, diverged loss, mismatched resume)."""


def one_cycle(step: int, total: int, lr_max: float = 1.0) -> tuple[float, float]:
    """Learning rate and momentum at ``step`` of ``total`` (piecewise linear through the 1cycle knots)."""
    f = min(max(step / max(total, 1), 0.0), 1.0)
    return lr_max * float(np.interp(f, CYCLE_AT, CYCLE_LR)), float(np.interp(f, CYCLE_AT, CYCLE_MOMENTUM))


def _opt(default: Any, help: str, **meta: Any) -> Any:
    """A TrainOptions field whose metadata builds its command-line option (margipose.cli)."""
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class TrainOptions:
    """What a run needs besides the model options; stored in the checkpoint. Each field is one option of
    `margipose train` (margipose/cli.py builds them from this metadata)."""

    data: str = _opt(None, "Prepared data folder (DATA/<dataset>/<split>.h5).", required=True, type="dir")
    out: str = _opt(None, "Run folder (checkpoint.pt, log.jsonl).", required=True, type="dir")
    dataset: str = _opt("mpi3dhp", "3D training set.", choices=("mpi3dhp", "h36m"))
    split: str = _opt("trainval", "Prepared split(s): trainval (the paper's recipe: mpi3dhp train+val, MPII "
                      "train+val; h36m train = S1,5,6,7,8), train, or any prepared split name.")
    mpii: str = _opt("auto", "Mix half and half with MPII 2D (auto: when DATA/mpii/train.h5 exists).",
                     choices=("auto", "yes", "no"))
    backbone_weights: str | None = _opt(None, "ImageNet Inception-v4 state dict (timm/Cadene names) loaded into "
                                        "the backbone at the start, as the paper.", type="file")
    pretrained: bool = _opt(True, "--no-pretrained trains from a random backbone (recorded in the log and "
                            "checkpoint); otherwise --backbone-weights is required.", flags="--pretrained/--no-pretrained")
    backgrounds: str | None = _opt(None, "Folder of background images for the MPI-INF-3DHP compositing "
                                   "augmentation (p 0.6 where the sequence allows it).", type="dir")
    textures: str | None = _opt(None, "Folder of clothing textures (upper body p 0.2, lower body p 0.5).",
                                type="dir")
    epochs: int = _opt(150, "Epochs.")
    samples_per_epoch: int = _opt(32000, "Samples per epoch (all processes together).")
    batch_size: int = _opt(32, "Batch size per process.")
    lr_max: float = _opt(1.0, "Peak 1cycle learning rate.")
    max_grad_norm: float = _opt(0.0, "Clip gradients (0: off, as the reference).")
    workers: int = _opt(min(4, os.cpu_count() or 1), "DataLoader worker processes (default: min(4, cores)).")
    seed: int = _opt(0, "Random seed.")
    device: str | None = _opt(None, "cpu, cuda, cuda:1 ... (default: cuda if available).", type="str")
    augment: bool = _opt(True, "The reference augmentation (--no-augment: off).", flags="--augment/--no-augment")
    max_minutes: float = _opt(0.0, "Stop (and checkpoint) after this many minutes (0: no limit).")
    log_every: int = _opt(10, "Log losses every N steps.")
    progress: bool = _opt(True, "Progress bar (--quiet: none).", flags="--progress/--quiet")
    model: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if world > 1:
        return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


def _device(requested: str | None, local_rank: int) -> torch.device:
    if requested and requested != "cuda":  # plain "cuda" means this process's GPU under torchrun
        return torch.device(requested)
    if requested == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for but CUDA is not available")
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


SPLITS = {("mpi3dhp", "trainval"): ("train", "val"), ("h36m", "trainval"): ("train",),
          ("mpii", "trainval"): ("train", "val")}


def split_files(data: str | os.PathLike, dataset: str, split: str) -> list[Path]:
    """Prepared files of a split: ``trainval`` is the reference's train+val (Human3.6M's train file already
    holds all five training subjects); any other name is that one file."""
    return [prepared_path(data, dataset, s) for s in SPLITS.get((dataset, split), (split,))]


def _datasets(opts: TrainOptions, input_size: int) -> tuple[list[Any], list[Any], dict[str, str]]:
    """(3D datasets, MPII datasets, content hashes by file) for the options."""
    files = split_files(opts.data, opts.dataset, opts.split)
    missing = [f for f in files if not f.is_file()]
    if missing:
        hint = " (or train on --split train)" if opts.split == "trainval" else ""
        raise TrainingError(f"{missing[0]}: no prepared file for split {opts.split!r} (run `posebench prepare "
                            f"{opts.dataset}` first{hint})")
    extra = {"backgrounds": opts.backgrounds, "textures": opts.textures} if opts.dataset == "mpi3dhp" else {}
    common = {"input_size": input_size, "augment": opts.augment, "seed": opts.seed,
              "image_dtype": torch.uint8}  # bytes: the model scales them on the device (Backbone.forward)
    sets3d = [Pose3DDataset(f, **common, **extra) for f in files]
    mpii_files = [f for f in split_files(opts.data, "mpii", opts.split) if f.is_file()]
    if opts.mpii == "yes" and not mpii_files:
        raise TrainingError(f"{prepared_path(opts.data, 'mpii', 'train')}: --mpii yes but no prepared MPII file")
    sets2d = []
    if opts.mpii == "yes" or (opts.mpii == "auto" and mpii_files):
        sets2d = [Pose2DDataset(f, **common) for f in mpii_files]
    hashes = {f"{Path(s.path).parent.name}/{Path(s.path).name}": s.content_hash for s in sets3d + sets2d}
    return sets3d, sets2d, hashes


def _backbone(model: MargiPose, opts: TrainOptions, resumed: bool) -> dict[str, Any]:
    """Load the ImageNet backbone (unless resuming or --no-pretrained); what was done, for log and checkpoint."""
    if opts.backbone_weights is None and opts.pretrained:
        raise TrainingError("the paper's recipe starts from an ImageNet Inception-v4 backbone: give "
                            "--backbone-weights FILE (timm/Cadene state dict), or --no-pretrained to train without")
    if opts.backbone_weights is not None and not opts.pretrained:
        raise TrainingError("--backbone-weights and --no-pretrained contradict each other")
    if not opts.pretrained:
        return {"pretrained": False}
    path = Path(opts.backbone_weights)
    if not resumed:
        model.backbone.load_inception_weights(path)
    return {"pretrained": True, "file": path.name, "sha256": file_sha256(path)}


def _plain(obj: Any) -> Any:
    """JSON round trip: keeps checkpoints free of anything but primitives."""
    return json.loads(json.dumps(obj))


def train(opts: TrainOptions, resume: bool = False) -> Path:
    """Run (or resume) training; returns the checkpoint path."""
    rank, world, local_rank = _distributed()
    device = _device(opts.device, local_rank)
    out = Path(opts.out)
    ckpt_path = out / "checkpoint.pt"
    ckpt = None
    if resume and ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        if ckpt.get("model_options") != _plain(opts.model):
            raise TrainingError(f"{ckpt_path}: model options differ from the checkpoint's "
                                f"({ckpt.get('model_options')} vs {opts.model})")
    model = MargiPose(**opts.model)
    cfg = model.config
    backbone = _backbone(model, opts, resumed=ckpt is not None)
    sets3d, sets2d, hashes = _datasets(opts, cfg.input_size)
    sets = sets3d + sets2d
    if ckpt is not None:
        if ckpt.get("data") != hashes:
            raise TrainingError(f"{ckpt_path}: training data changed since the checkpoint ({ckpt.get('data')} vs {hashes})")
        model.load_state_dict(ckpt["model"])
    cuda = device.type == "cuda"
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    per_rank = opts.samples_per_epoch // world
    steps_per_epoch = per_rank // opts.batch_size
    if steps_per_epoch < 1:
        raise TrainingError(f"samples per epoch ({opts.samples_per_epoch}) give no full batch of {opts.batch_size} per process")
    total = steps_per_epoch * opts.epochs
    data3d: Any = PlannedConcatDataset(sets3d) if len(sets3d) > 1 else sets3d[0]
    if sets2d:
        data2d = PlannedConcatDataset(sets2d)
        sampler: Any = MixedSampler(len(data3d), len(data2d), per_rank, opts.seed, rank, world)
        dataset: Any = PlannedConcatDataset([data3d, data2d])
    else:
        sampler, dataset = EpochSampler(len(data3d), per_rank, opts.seed, rank, world), data3d
    start_epoch = int(ckpt["epoch"]) if ckpt else 0
    step = int(ckpt["step"]) if ckpt else 0
    t0 = time.monotonic()
    log = (out / "log.jsonl") if rank == 0 else None
    out.mkdir(parents=True, exist_ok=True)
    if log is not None:
        start = {"event": "resume" if ckpt is not None else "start", "backbone": backbone,
                 "data": sorted(hashes), "world_size": world}
        with log.open("a") as f:
            f.write(json.dumps(start) + "\n")
        if not backbone["pretrained"]:
            click.echo("margipose train: --no-pretrained: the backbone starts from random weights "
                       "(the paper starts from ImageNet Inception-v4)", err=True)
    stopped = False
    for epoch in range(start_epoch, opts.epochs):
        sampler.set_epoch(epoch)
        for s in sets:
            s.epoch = epoch
        loader = DataLoader(dataset, batch_size=opts.batch_size, sampler=sampler, num_workers=opts.workers,
                            drop_last=True, pin_memory=cuda, persistent_workers=False,
                            worker_init_fn=keep_freed_memory if opts.workers else None)
        net.train()
        sums: dict[str, float] = {}
        batches: Any = loader
        if opts.progress and rank == 0:
            from tqdm import tqdm

            batches = tqdm(loader, desc=f"epoch {epoch + 1}/{opts.epochs}", unit="batch", leave=False)
        n = 0
        for batch in batches:
            lr, momentum = one_cycle(step, total, opts.lr_max)
            for group in optimizer.param_groups:
                group["lr"], group["momentum"] = lr, momentum
            images = batch["image"].to(device, non_blocking=True)
            if cuda:
                images = images.contiguous(memory_format=torch.channels_last)
            target, mask = batch["target"].to(device), batch["mask"].to(device)
            has_depth = batch["has_depth"].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
                outputs = net(images)
            loss, parts = margipose_loss(outputs, target, mask, has_depth, cfg.jsd, cfg.sigma)
            if not math.isfinite(parts["loss"]):
                raise TrainingError(f"loss became {parts['loss']} at step {step} (epoch {epoch + 1}); "
                                    f"lower --lr-max (now {opts.lr_max}) or set --max-grad-norm")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if opts.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), opts.max_grad_norm)
            optimizer.step()
            step += 1
            n += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if log is not None and (step % opts.log_every == 0 or n == steps_per_epoch):
                with log.open("a") as f:
                    f.write(json.dumps({"epoch": epoch + 1, "step": step, "lr": lr, "momentum": momentum, **parts}) + "\n")
            if opts.max_minutes and time.monotonic() - t0 > 60 * opts.max_minutes:
                stopped = True
                break
        if rank == 0:
            means = {k: v / max(n, 1) for k, v in sums.items()}
            with log.open("a") as f:  # type: ignore[union-attr]
                f.write(json.dumps({"epoch": epoch + 1, "step": step, "epoch_mean": means}) + "\n")
            if opts.progress:
                click.echo(f"epoch {epoch + 1}/{opts.epochs}: loss {means.get('loss', float('nan')):.4f}", err=True)
            save_checkpoint(ckpt_path, model, optimizer=optimizer.state_dict(), epoch=epoch + (0 if stopped else 1),
                            step=step, total_steps=total, data=hashes, model_options=_plain(opts.model),
                            backbone=backbone,
                            train_options=_plain({k: v for k, v in vars(opts).items() if k != "model"}))
        if stopped:
            break
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return ckpt_path

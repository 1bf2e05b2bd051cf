"""`margipose train`: SGD with momentum and the 1cycle schedule over prepared files (research section 7).

One process per device; several GPUs or nodes run under ``torchrun`` (DistributedDataParallel, rank-sharded
samplers). Checkpoints (``OUT/checkpoint.pt``, rewritten every epoch) carry the model config, optimizer
state, progress and the content hashes of the training data, so ``--resume`` continues where it stopped
and refuses changed data. Losses go to ``OUT/log.jsonl``.
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
from torch.utils.data import ConcatDataset, DataLoader

from posebench.data import prepared_path

from margipose.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from margipose.data import EpochSampler, MixedSampler, Pose2DDataset, Pose3DDataset
from margipose.loss import margipose_loss
from margipose.model import MargiPose

# 1cycle knots as fractions of the run, with learning rate (x lr_max) and momentum (reference values).
CYCLE_AT = (0.0, 0.45, 0.9, 1.0)
CYCLE_LR = (0.1, 1.0, 0.1, 1e-4)
CYCLE_MOMENTUM = (0.9, 0.85, 0.9, 0.9)


class TrainingError(ValueError):
    """Training cannot start or continue (bad data folder, diverged loss, mismatched resume)."""


def one_cycle(step: int, total: int, lr_max: float = 1.0) -> tuple[float, float]:
    """Learning rate and momentum at ``step`` of ``total`` (piecewise linear through the 1cycle knots)."""
    f = min(max(step / max(total, 1), 0.0), 1.0)
    return lr_max * float(np.interp(f, CYCLE_AT, CYCLE_LR)), float(np.interp(f, CYCLE_AT, CYCLE_MOMENTUM))


@dataclass
class TrainOptions:
    """What a run needs besides the model options; stored in the checkpoint."""

    data: str
    out: str
    dataset: str = "mpi3dhp"
    split: str = "train"
    mpii: str = "auto"           # auto | yes | no
    epochs: int = 150
    samples_per_epoch: int = 32000
    batch_size: int = 32
    lr_max: float = 1.0
    max_grad_norm: float = 0.0   # 0 = no clipping (the reference)
    workers: int = 4
    seed: int = 0
    device: str | None = None
    augment: bool = True
    max_minutes: float = 0.0     # 0 = no limit; otherwise stop (and checkpoint) after this long
    log_every: int = 10
    progress: bool = True
    model: dict[str, Any] = field(default_factory=dict)


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


def _datasets(opts: TrainOptions, input_size: int) -> tuple[list[Any], dict[str, dict[str, str]]]:
    main = prepared_path(opts.data, opts.dataset, opts.split)
    if not main.is_file():
        raise TrainingError(f"{main}: no prepared training file (run `posebench prepare {opts.dataset}` first)")
    sets: list[Any] = [Pose3DDataset(main, input_size=input_size, augment=opts.augment, seed=opts.seed)]
    mpii = prepared_path(opts.data, "mpii", "train")
    if opts.mpii == "yes" and not mpii.is_file():
        raise TrainingError(f"{mpii}: --mpii yes but no prepared MPII training file")
    if opts.mpii == "yes" or (opts.mpii == "auto" and mpii.is_file()):
        sets.append(Pose2DDataset(mpii, input_size=input_size, augment=opts.augment, seed=opts.seed))
    hashes = {f"{Path(s.path).parent.name}/{Path(s.path).name}": s.content_hash for s in sets}
    return sets, hashes


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
    sets, hashes = _datasets(opts, cfg.input_size)
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
    if len(sets) == 2:
        sampler: Any = MixedSampler(len(sets[0]), len(sets[1]), per_rank, opts.seed, rank, world)
        dataset: Any = ConcatDataset(sets)
    else:
        sampler, dataset = EpochSampler(len(sets[0]), per_rank, opts.seed, rank, world), sets[0]
    start_epoch = int(ckpt["epoch"]) if ckpt else 0
    step = int(ckpt["step"]) if ckpt else 0
    t0 = time.monotonic()
    log = (out / "log.jsonl") if rank == 0 else None
    out.mkdir(parents=True, exist_ok=True)
    stopped = False
    for epoch in range(start_epoch, opts.epochs):
        sampler.set_epoch(epoch)
        for s in sets:
            s.epoch = epoch
        loader = DataLoader(dataset, batch_size=opts.batch_size, sampler=sampler, num_workers=opts.workers,
                            drop_last=True, pin_memory=cuda, persistent_workers=False)
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
                            train_options=_plain({k: v for k, v in vars(opts).items() if k != "model"}))
        if stopped:
            break
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return ckpt_path


@click.command("train", epilog="""\b
Examples:
  margipose train --data data --dataset mpi3dhp --out runs/mp                  # the paper's recipe (GPU)
  margipose train --data data --dataset h36m --out runs/h36m --max-minutes 600 --resume
  torchrun --nproc-per-node 8 -m margipose.cli train --data data --out runs/mp  # DDP over 8 GPUs
  margipose train --data data --out runs/tiny --device cpu --stages 2 --channels 32 --mid-channels 32 \\
      --input-size 64 --epochs 2 --samples-per-epoch 256 --batch-size 8        # a CPU smoke run
""")
@click.option("--data", "data", type=click.Path(file_okay=False), required=True, help="Prepared data folder (DATA/<dataset>/<split>.h5).")
@click.option("--dataset", type=click.Choice(["mpi3dhp", "h36m"]), default="mpi3dhp", show_default=True)
@click.option("--split", default="train", show_default=True, help="Prepared split to train on (train, trainval...).")
@click.option("--mpii", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True,
              help="Mix half and half with DATA/mpii/train.h5 (auto: when it exists).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Run folder (checkpoint.pt, log.jsonl).")
@click.option("--epochs", type=int, default=150, show_default=True)
@click.option("--samples-per-epoch", type=int, default=32000, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr-max", type=float, default=1.0, show_default=True, help="Peak 1cycle learning rate.")
@click.option("--max-grad-norm", type=float, default=0.0, show_default=True, help="Clip gradients (0: off).")
@click.option("--workers", type=int, default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
@click.option("--no-augment", is_flag=True, help="Turn the reference augmentation off.")
@click.option("--max-minutes", type=float, default=0.0, help="Stop (and checkpoint) after this many minutes.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
@click.option("--stages", type=int, default=4, show_default=True)
@click.option("--channels", type=int, default=128, show_default=True)
@click.option("--mid-channels", type=int, default=192, show_default=True)
@click.option("--input-size", type=int, default=256, show_default=True)
@click.option("--heatmap-size", type=int, default=None, help="Default input-size/8.")
@click.option("--head", type=click.Choice(["marginal", "volumetric"]), default="marginal", show_default=True)
@click.option("--depth-size", type=int, default=32, show_default=True, help="D of the volumetric head.")
@click.option("--no-axis-permutation", is_flag=True)
@click.option("--no-jsd", is_flag=True, help="Train without the Jensen-Shannon regulariser.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_command(data, dataset, split, mpii, out, epochs, samples_per_epoch, batch_size, lr_max, max_grad_norm, workers,
                  seed, device, no_augment, max_minutes, resume, stages, channels, mid_channels, input_size,
                  heatmap_size, head, depth_size, no_axis_permutation, no_jsd, quiet) -> None:
    """Train MargiPose on prepared files (CPU for tiny configs; CUDA bf16; torchrun for several GPUs)."""
    model = {"stages": stages, "channels": channels, "mid_channels": mid_channels, "input_size": input_size,
             "heatmap_size": heatmap_size, "head": head, "depth_size": depth_size,
             "axis_permutation": not no_axis_permutation, "jsd": not no_jsd}
    opts = TrainOptions(data=data, out=out, dataset=dataset, split=split, mpii=mpii, epochs=epochs,
                        samples_per_epoch=samples_per_epoch, batch_size=batch_size, lr_max=lr_max,
                        max_grad_norm=max_grad_norm, workers=workers, seed=seed, device=device, augment=not no_augment,
                        max_minutes=max_minutes, progress=not quiet, model=model)
    try:
        path = train(opts, resume=resume)
    except (TrainingError, CheckpointError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(str(path))

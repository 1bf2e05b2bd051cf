"""MargiPose on one CUDA GPU: bf16 + channels_last throughput and peak memory for both heads, with self-checks.

Prepared for a session that is lent a GPU; run once (about 2-4 minutes on an H100/H200):

    python benchmarks/gpu_margipose.py            # prints a table; writes $OUT/gpu_margipose.json if $OUT is set

Checks (the script exits non-zero if one fails): finite losses; bf16 final coordinates within 0.05 NDC of
float32 ones for the same weights and images; 30 SGD steps on one fixed batch lower the paper model's loss;
the training loop (`margipose.train.train`) runs one epoch on CUDA over a generated prepared tree.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from margipose.loss import margipose_loss
from margipose.model import MargiPose, parameter_count

BATCH = 32
CONFIGS = [
    ("marginal", 32, None), ("marginal", 64, None),
    ("volumetric", 32, 16), ("volumetric", 32, 32), ("volumetric", 32, 64), ("volumetric", 64, 64),
]
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def _batch(device: torch.device, n: int = BATCH, seed: int = 0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.rand(n, 3, 256, 256, generator=g).to(device).contiguous(memory_format=torch.channels_last)
    target = (torch.rand(n, 17, 3, generator=g) * 1.4 - 0.7).to(device)
    return x, target, torch.ones(n, 17, dtype=torch.bool, device=device), torch.ones(n, dtype=torch.bool, device=device)


def bf16_step(model, opt, x, target, mask, has_depth) -> float:
    """One SGD step under bf16 autocast; the loss."""
    with torch.autocast("cuda", dtype=torch.bfloat16):
        outs = model(x)
    loss, _ = margipose_loss(outs, target, mask, has_depth, jsd=True)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def measure(head: str, hm: int, depth: int | None, device: torch.device) -> dict:
    opts = {"head": head, "heatmap_size": hm, **({"depth_size": depth} if depth else {})}
    torch.manual_seed(0)
    model = MargiPose(**opts).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batch = _batch(device)

    def step() -> float:
        return bf16_step(model, opt, *batch)

    x = batch[0]
    for _ in range(2):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    losses = [step() for _ in range(5)]
    torch.cuda.synchronize()
    train_ips = 5 * BATCH / (time.perf_counter() - t0)
    train_peak = torch.cuda.max_memory_allocated() / 2 ** 30
    check(all(np.isfinite(losses)), f"{head} H={hm} D={depth or '-'}: finite bf16 training losses")
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        model(x)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(10):
            outs = model(x)
        torch.cuda.synchronize()
    infer_ips = 10 * BATCH / (time.perf_counter() - t0)
    infer_peak = torch.cuda.max_memory_allocated() / 2 ** 30
    heat = sum(v.numel() * 4 for o in outs for k, v in o.items() if k != "coords") / 2 ** 20  # as float32
    return {"head": head, "H": hm, "D": depth, "params_M": parameter_count(model) / 1e6, "train_img_s": train_ips,
            "train_peak_GiB": train_peak, "infer_img_s": infer_ips, "infer_peak_GiB": infer_peak,
            "heatmaps_MB_fp32": heat}


def bf16_matches_fp32(device: torch.device) -> None:
    torch.manual_seed(1)
    model = MargiPose().to(device).eval()
    x, *_ = _batch(device, 8, seed=1)
    with torch.no_grad():
        ref = model(x)[-1]["coords"]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low = model(x)[-1]["coords"].float()
    diff = float((ref - low).abs().max())
    check(diff < 0.05, f"bf16 vs fp32 final coordinates: max |diff| {diff:.4f} NDC (< 0.05)")


def learns_fixed_batch(device: torch.device) -> None:
    torch.manual_seed(2)
    model = MargiPose().to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    batch = _batch(device, 16, seed=2)
    losses = [bf16_step(model, opt, *batch) for _ in range(30)]
    check(np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]),
          f"paper model fits one batch in bf16: loss {np.mean(losses[:5]):.3f} -> {np.mean(losses[-5:]):.3f}")


def training_loop_on_cuda() -> None:
    from PIL import Image

    from posebench.data import write_prepared
    from margipose.checkpoint import load_checkpoint
    from margipose.train import TrainOptions, train

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        n, k = 64, np.array([300.0, 300.0, 160.0, 160.0])
        joints = rng.normal(0, 250, (n, 17, 3)) + np.array([0, 0, 4000.0])
        j2d = joints[..., :2] / joints[..., 2:] * k[:2] + k[2:]
        images = []
        for i in range(n):
            rel = f"images/{i:03d}.jpg"
            (root / "h36m" / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (320, 320, 3), dtype=np.uint8)).save(root / "h36m" / rel)
            images.append(rel)
        write_prepared(root / "h36m" / "train.h5", {
            "joints3d": joints, "joints2d": j2d, "intrinsics": np.tile(k, (n, 1)), "subject": np.ones(n, int),
            "camera": np.zeros(n, int), "frame": np.arange(n), "action": np.full(n, "Walking"),
            "sequence": np.full(n, "Walking"), "image": np.array(images)}, {"dataset": "h36m", "split": "train"})
        t0 = time.perf_counter()
        path = train(TrainOptions(data=str(root), out=str(root / "run"), dataset="h36m", mpii="no", epochs=1,
                                  samples_per_epoch=64, batch_size=32, lr_max=0.1, workers=min(4, os.cpu_count() or 1), progress=False,
                                  pretrained=False))
        ckpt = load_checkpoint(path)
        check(ckpt["step"] == 2, f"training loop on CUDA (bf16, channels_last): 2 steps in {time.perf_counter() - t0:.1f} s")


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: this script is for a GPU session", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    print(f"# {torch.cuda.get_device_name()} | torch {torch.__version__} | batch {BATCH}, 256x256, bf16 autocast, channels_last")
    rows = []
    for head, hm, depth in CONFIGS:
        try:
            rows.append(measure(head, hm, depth, device))
        except torch.OutOfMemoryError:
            check(False, f"{head} H={hm} D={depth}: out of memory at batch {BATCH}")
        torch.cuda.empty_cache()
    print(f"{'head':<11}{'H':>4}{'D':>4}{'params M':>10}{'train img/s':>13}{'train GiB':>11}{'infer img/s':>13}"
          f"{'infer GiB':>11}{'maps MB':>9}")
    for r in rows:
        print(f"{r['head']:<11}{r['H']:>4}{r['D'] or '-':>4}{r['params_M']:>10.2f}{r['train_img_s']:>13.1f}"
              f"{r['train_peak_GiB']:>11.2f}{r['infer_img_s']:>13.1f}{r['infer_peak_GiB']:>11.2f}{r['heatmaps_MB_fp32']:>9.1f}")
    bf16_matches_fp32(device)
    learns_fixed_batch(device)
    training_loop_on_cuda()
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_margipose.json").write_text(json.dumps({"device": torch.cuda.get_device_name(),
                                                               "rows": rows, "failures": failures}, indent=2))
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

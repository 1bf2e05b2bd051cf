"""MargiPose memory and speed: marginal heatmaps (3 x H x W per joint) against a volumetric head (D x H x W).

For each head, heatmap resolution H (32, 64) and depth resolution D (16, 32, 64; volumetric only), one
forward + backward pass at 256x256 is run in a fresh process, reporting the bytes held by the output
heatmaps (all stages) and the process's peak memory growth over the built model (CPU: peak RSS; CUDA:
torch.cuda.max_memory_allocated), plus the time. Then CPU inference images/s and the paper configuration's
parameter count and checkpoint size.

    python benchmarks/bench_margipose_memory.py               # batch 32 (slow on CPU)
    python benchmarks/bench_margipose_memory.py --batch 2     # the CPU run recorded in the report
    python benchmarks/bench_margipose_memory.py --heatmap 32  # batch 32 where it fits in a 24 GB CPU machine
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time

CONFIGS = [("marginal", 32, None), ("marginal", 64, None)] + [
    ("volumetric", h, d) for h in (32, 64) for d in (16, 32, 64)]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _one(head: str, hm: int, depth: int | None, batch: int, device: str, queue) -> None:
    import torch

    from margipose.model import MargiPose
    from margipose.loss import margipose_loss
    from margipose.model import parameter_count

    torch.manual_seed(0)
    opts = {"head": head, "heatmap_size": hm}
    if depth:
        opts["depth_size"] = depth
    model = MargiPose(**opts).to(device)
    x = torch.rand(batch, 3, 256, 256, device=device)
    target = torch.rand(batch, 17, 3, device=device) * 1.6 - 0.8
    mask = torch.ones(batch, 17, dtype=torch.bool, device=device)
    has_depth = torch.ones(batch, dtype=torch.bool, device=device)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_mb()
    t0 = time.perf_counter()
    outputs = model(x)
    heat_bytes = sum(v.numel() * v.element_size() for o in outputs for k, v in o.items() if k != "coords")
    loss, _ = margipose_loss(outputs, target, mask, has_depth, jsd=True)
    loss.backward()
    if cuda:
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    else:
        peak = _rss_mb() - base
    queue.put({"head": head, "H": hm, "D": depth or "", "params_M": parameter_count(model) / 1e6,
               "heatmaps_MB": heat_bytes / 2 ** 20, "peak_MB": peak, "seconds": time.perf_counter() - t0})


def _inference(batch: int, repeats: int) -> float:
    import torch

    from margipose.model import MargiPose

    model = MargiPose().eval()
    x = torch.rand(batch, 3, 256, 256)
    with torch.no_grad():
        model(x)  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return batch * repeats / (time.perf_counter() - t0)


def _checkpoint_size() -> tuple[int, int]:
    from margipose.model import MargiPose
    from margipose.checkpoint import save_checkpoint
    from margipose.model import parameter_count

    model = MargiPose()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "paper.pt")
        save_checkpoint(path, model)
        return parameter_count(model), os.path.getsize(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32, help="batch for forward+backward (default 32, as the paper)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--infer-batch", type=int, default=8)
    ap.add_argument("--infer-repeats", type=int, default=2)
    ap.add_argument("--only", choices=["marginal", "volumetric"], default=None)
    ap.add_argument("--heatmap", type=int, choices=[32, 64], default=None,
                    help="only this heatmap resolution (e.g. 32: the configurations a 24 GB CPU machine fits at batch 32)")
    args = ap.parse_args()
    import torch

    print(f"# MargiPose forward+backward, 256x256 input, batch {args.batch}, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'head':<11}{'H':>4}{'D':>4}{'params M':>10}{'heatmaps MB':>13}{'peak MB':>10}{'s':>8}")
    ctx = mp.get_context("spawn")
    rows = []
    for head, hm, depth in CONFIGS:
        if (args.only and head != args.only) or (args.heatmap and hm != args.heatmap):
            continue
        q = ctx.Queue()
        p = ctx.Process(target=_one, args=(head, hm, depth, args.batch, args.device, q))
        p.start()
        p.join()
        if p.exitcode != 0:
            print(f"{head:<11}{hm:>4}{depth or '':>4}  failed (exit {p.exitcode})")
            continue
        r = q.get()
        rows.append(r)
        print(f"{r['head']:<11}{r['H']:>4}{r['D']:>4}{r['params_M']:>10.2f}{r['heatmaps_MB']:>13.1f}"
              f"{r['peak_MB']:>10.0f}{r['seconds']:>8.1f}", flush=True)
    marg = {r["H"]: r for r in rows if r["head"] == "marginal"}
    print("\n# growth: heatmap bytes per joint = 3*H*W (marginal) vs D*H*W (volumetric); ratio to marginal at same H")
    for r in rows:
        if r["head"] == "volumetric" and r["H"] in marg:
            m = marg[r["H"]]
            print(f"H={r['H']:>2} D={r['D']:>2}: heatmaps x{r['heatmaps_MB'] / m['heatmaps_MB']:.2f} "
                  f"(expected D/3 = {r['D'] / 3:.2f}), peak x{r['peak_MB'] / max(m['peak_MB'], 1):.2f}, "
                  f"time x{r['seconds'] / m['seconds']:.2f}")
    ips = _inference(args.infer_batch, args.infer_repeats)
    print(f"\n# CPU inference, paper configuration, batch {args.infer_batch}: {ips:.2f} images/s")
    n, size = _checkpoint_size()
    print(f"# paper configuration: {n:,} parameters; checkpoint {size / 1e6:.1f} MB "
          f"(reference checkpoints: 221.6 MB)")


if __name__ == "__main__":
    sys.exit(main())

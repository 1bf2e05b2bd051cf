"""Throughput and peak memory of posebench.metrics on many 17-joint poses, against baselines run here.

Prints poses/s per metric; the ratio of pa_mpjpe's speed to (a) VideoPose3D's P-MPJPE vectorised with a
batched np.linalg.svd and (b) a per-sample loop over scipy.linalg.svd (timed on a subset, extrapolated),
both run here on the same poses; the largest PA difference to each baseline; and each metric's peak
traced memory as a multiple of the input.

    python benchmarks/bench_metrics.py            # 1,000,000 poses
    python benchmarks/bench_metrics.py --n 100000 --repeat 1
"""
from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import scipy.linalg

from posebench import metrics
from posebench.align import CHUNK


def make_poses(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Root-centred gt (n,17,3) mm and predictions: rotated, rescaled, noisy copies (1% reflected)."""
    rng = np.random.default_rng(seed)
    template = rng.normal(0.0, 1.0, (17, 3)) * np.array([200.0, 450.0, 120.0])
    gt = template + rng.normal(0.0, 60.0, (n, 17, 3))
    q = rng.normal(size=(n, 4)) * np.array([8.0, 1.0, 1.0, 1.0])  # mostly small rotations
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    rot = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1).reshape(n, 3, 3)
    pred = np.matmul(gt, rot) * rng.uniform(0.8, 1.2, (n, 1, 1)) + rng.normal(0.0, 40.0, (n, 17, 3))
    pred[rng.random(n) < 0.01, :, 0] *= -1.0
    return pred, gt


def vp3d_batched(pred: np.ndarray, gt: np.ndarray, block: int = CHUNK) -> np.ndarray:
    """Baseline (a): VideoPose3D's P-MPJPE (reflections excluded) vectorised with np.linalg.svd, by blocks."""
    out = np.empty(len(pred))
    for start in range(0, len(pred), block):
        y, x = pred[start:start + block], gt[start:start + block]
        mu_x, mu_y = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
        x0, y0 = x - mu_x, y - mu_y
        nx = np.sqrt((x0 ** 2).sum(axis=(1, 2), keepdims=True))
        ny = np.sqrt((y0 ** 2).sum(axis=(1, 2), keepdims=True))
        x0, y0 = x0 / nx, y0 / ny
        h = np.matmul(x0.transpose(0, 2, 1), y0)
        u, s, vt = np.linalg.svd(h)
        v = vt.transpose(0, 2, 1)
        r = np.matmul(v, u.transpose(0, 2, 1))
        d = np.sign(np.linalg.det(r))
        v[:, :, -1] *= d[:, None]
        s[:, -1] *= d
        r = np.matmul(v, u.transpose(0, 2, 1))
        a = s.sum(axis=1, keepdims=True)[:, :, None] * nx / ny
        t = mu_x - a * np.matmul(mu_y, r)
        aligned = a * np.matmul(y, r) + t
        out[start:start + block] = np.linalg.norm(aligned - x, axis=-1).mean(axis=-1)
    return out


def scipy_loop(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Baseline (b): the same fit one sample at a time with scipy.linalg.svd."""
    out = np.empty(len(pred))
    for i in range(len(pred)):
        x, y = gt[i], pred[i]
        x0, y0 = x - x.mean(0), y - y.mean(0)
        u, s, vt = scipy.linalg.svd(x0.T @ y0)
        r = vt.T @ u.T
        if np.linalg.det(r) < 0:
            vt[-1] *= -1
            s[-1] *= -1
            r = vt.T @ u.T
        a = s.sum() / (y0 ** 2).sum()
        out[i] = np.linalg.norm(a * y0 @ r - x0, axis=-1).mean()
    return out


def best_time(fn, repeat: int) -> tuple[float, float]:
    """Best CPU time of this process and best wall time over ``repeat`` runs (CPU time is the steadier
    figure on a shared machine; both are printed)."""
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), min(wall)


def peak_memory(fn) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="number of poses")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    ap.add_argument("--scipy-subset", type=int, default=5000, help="poses timed for the per-sample SciPy loop")
    args = ap.parse_args()

    pred, gt = make_poses(args.n)
    input_bytes = pred.nbytes + gt.nbytes
    print(f"{args.n:,} poses x 17 joints, float64; input {input_bytes / 2**20:.0f} MiB (pred + gt); "
          f"CPU seconds of this process, best of {args.repeat}")
    funcs = {name: getattr(metrics, name) for name in metrics.METRICS}
    print(f"{'metric':<10} {'cpu s':>7} {'wall s':>7} {'poses/s (cpu)':>14} {'extra peak / input':>19}")
    times = {}
    for name, fn in funcs.items():
        times[name], wall = best_time(lambda: fn(pred, gt), args.repeat)
        peak = peak_memory(lambda: fn(pred, gt))
        print(f"{name:<10} {times[name]:7.3f} {wall:7.3f} {args.n / times[name]:14,.0f} {peak / input_bytes:19.2f}")

    t_a, w_a = best_time(lambda: vp3d_batched(pred, gt), args.repeat)
    sub = min(args.scipy_subset, args.n)
    t_b = best_time(lambda: scipy_loop(pred[:sub], gt[:sub]), 1)[0] * args.n / sub
    ours = metrics.pa_mpjpe(pred, gt)
    ref_a = vp3d_batched(pred, gt)
    ref_b = scipy_loop(pred[:sub], gt[:sub])
    rel_a = np.max(np.abs(ours - ref_a) / ref_a)
    rel_b = np.max(np.abs(ours[:sub] - ref_b) / ref_b)
    t_pa = times["pa_mpjpe"]
    print(f"baseline (a) VideoPose3D P-MPJPE, batched np.linalg.svd: {t_a:.3f} s cpu ({w_a:.3f} s wall); "
          f"pa_mpjpe is {t_a / t_pa:.1f}x faster; max relative difference {rel_a:.1e}")
    print(f"baseline (b) per-sample scipy.linalg.svd loop, timed on {sub:,} poses and extrapolated to "
          f"{args.n:,}: {t_b:.1f} s cpu; pa_mpjpe is {t_b / t_pa:.0f}x faster; max relative difference {rel_b:.1e}")
    print("extra peak: tracemalloc's peak of the arrays allocated by the call (the inputs are not counted)")


if __name__ == "__main__":
    main()

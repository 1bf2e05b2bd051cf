"""Throughput and peak memory of posebench.metrics on many 17-joint poses, against baselines run in the same run.

Prints, per metric, the best wall and CPU time over --repeat runs and the peak memory as a multiple of the
input; the PA metrics once per thread count (1, and 2 when there are two cores) on the compiled kernel
(posebench._pa_numba, when numba is installed) and once on the NumPy path; then the ratio of pa_mpjpe's wall
time to (a) VideoPose3D's P-MPJPE vectorised with a batched np.linalg.svd, timed here on the same poses in
the same configuration, and (b) a per-sample scipy.linalg.svd loop (a subset, extrapolated), with the largest
differences to both; the kernel's first-call cost (numba import + load, or compile on a cold cache); the
OpenBLAS variables and the machine's load, since the cores may be shared.

    python benchmarks/bench_metrics.py            # 1,000,000 poses
    python benchmarks/bench_metrics.py --n 100000 --repeat 1
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_metrics.py   # both variables unset
"""
from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np
import scipy.linalg

from posebench import _pa_kernel, metrics
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
    """Best wall time and best CPU time of this process over ``repeat`` runs."""
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(wall), min(cpu)


def peak_memory(fn) -> int:
    """Peak bytes traced by tracemalloc during fn() (numba's buffers are not traced: they are small)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def kernel_first_call() -> str:
    """Load (or compile) the compiled kernel and say what it cost."""
    w0, c0 = time.perf_counter(), time.process_time()
    if not _pa_kernel.available():
        return "compiled kernel: unavailable (numba not installed or POSEBENCH_NUMBA=0): NumPy path only"
    w1, c1 = time.perf_counter(), time.process_time()
    p, g = make_poses(64, seed=1)
    _pa_kernel.procrustes_errors(p, g, np.arange(17), False, None)
    w2, c2 = time.perf_counter(), time.process_time()
    return (f"compiled kernel: numba import {w1 - w0:.2f} s wall ({c1 - c0:.2f} s cpu), first call (load from "
            f"numba's cache, or compile when cold) {w2 - w1:.2f} s wall ({c2 - c1:.2f} s cpu)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="number of poses")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    ap.add_argument("--scipy-subset", type=int, default=5000, help="poses timed for the per-sample SciPy loop")
    args = ap.parse_args()

    blas = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"{cores} cores; load average {os.getloadavg()[0]:.1f} at start; "
          + ", ".join(f"{k}={v}" for k, v in blas.items()))
    print(kernel_first_call())
    pred, gt = make_poses(args.n)
    input_bytes = pred.nbytes + gt.nbytes
    print(f"{args.n:,} poses x 17 joints, float64; input {input_bytes / 2**20:.0f} MiB (pred + gt); "
          f"best of {args.repeat}")
    print(f"{'metric':<10} {'path':<16} {'wall s':>7} {'cpu s':>7} {'M poses/s':>10} {'extra peak/input':>17}")
    kernel = _pa_kernel.available()
    thread_counts = [1, 2] if cores >= 2 else [1]
    walls: dict[tuple[str, str], float] = {}

    def row(name: str, path: str, fn) -> None:
        wall, cpu = best_time(fn, args.repeat)
        walls[name, path] = wall
        peak = peak_memory(fn)
        print(f"{name:<10} {path:<16} {wall:7.3f} {cpu:7.3f} {args.n / wall / 1e6:10.2f} "
              f"{peak / input_bytes:17.2f}", flush=True)

    for name in metrics.METRICS:
        fn = getattr(metrics, name)
        if metrics.METRICS[name].align != "procrustes":
            row(name, "numpy", lambda: fn(pred, gt))
            continue
        if kernel:
            for k in thread_counts:
                _pa_kernel.THREADS = k
                row(name, f"kernel {k} thread" + "s" * (k > 1), lambda: fn(pred, gt))
            _pa_kernel.THREADS = None
        os.environ[_pa_kernel.ENABLE_ENV] = "0"
        row(name, "numpy", lambda: fn(pred, gt))
        del os.environ[_pa_kernel.ENABLE_ENV]

    w_a, c_a = best_time(lambda: vp3d_batched(pred, gt), args.repeat)
    sub = min(args.scipy_subset, args.n)
    t_b = best_time(lambda: scipy_loop(pred[:sub], gt[:sub]), 1)[0] * args.n / sub
    ours = metrics.pa_mpjpe(pred, gt)
    ref_a = vp3d_batched(pred, gt)
    ref_b = scipy_loop(pred[:sub], gt[:sub])
    rel_a = np.max(np.abs(ours - ref_a) / ref_a)
    rel_b = np.max(np.abs(ours[:sub] - ref_b) / ref_b)
    print(f"baseline (a) VideoPose3D P-MPJPE, batched np.linalg.svd: {w_a:.3f} s wall ({c_a:.3f} s cpu), "
          f"{args.n / w_a / 1e6:.3f} M poses/s; max relative difference of pa_mpjpe {rel_a:.1e}")
    for path in [p for (m, p) in walls if m == "pa_mpjpe"]:
        print(f"  pa_mpjpe ({path}) is {w_a / walls['pa_mpjpe', path]:.1f}x faster (wall)")
    default = next((walls["pa_mpjpe", p] for p in ("kernel 2 threads", "kernel 1 thread", "numpy")
                    if ("pa_mpjpe", p) in walls))
    print(f"baseline (b) per-sample scipy.linalg.svd loop, timed on {sub:,} poses and extrapolated to "
          f"{args.n:,}: {t_b:.1f} s wall; pa_mpjpe (default path) is {t_b / default:.0f}x faster; "
          f"max relative difference {rel_b:.1e}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end; extra peak: tracemalloc's peak of the arrays "
          "allocated by the call (inputs not counted)")


if __name__ == "__main__":
    main()

"""Can the CPUs feed a GPU? The MargiPose training input pipeline (read JPEG -> crop/warp -> augment -> tensor)
in images/s per CPU core at the official frame sizes, against a plain Pillow decode-then-warp baseline in the
same run.

    python benchmarks/bench_margipose_input.py                  # ~1 minute
    python benchmarks/bench_margipose_input.py --images 16 --repeat 3 --gpu-images-per-s 900

Frames: look-alike studio frames (posebench.sample.render's backdrop, a drawn figure, sensor grain) at
Human3.6M's 1000x1002 (JPEG quality 90, about ffmpeg -qscale:v 3 as h36m-fetch writes) and MPI-INF-3DHP's
2048x2048 (quality 95, as `posebench prepare mpi3dhp --height 0` writes), with a person about 45 % (H36M)
and 40 % (MPI) of the frame tall, as in the studio recordings. The bits per pixel are printed: decoding
cost grows with them, so real frames with more texture decode more slowly in both arms.

Arms (one process, one torch thread, as a DataLoader worker; CPU seconds of this process, so other load on
the machine does not count): baseline = Image.open().convert("RGB") at full size, the reference's Pillow
bilinear affine warp into the 256 crop, to a tensor; ours = `margipose.data.Pose3DDataset` items (target,
mask, crop decoded at the reduced JPEG DCT scale the crop allows and only down to its last row, one warp),
without and with the reference augmentation (jitter, zoom, rotation, flip, colour). Cores for a GPU = its training images/s
divided by ours (augmented) per core; the GPU figure is --gpu-images-per-s when measured
(benchmarks/gpu_margipose.py), otherwise estimated from the model's FLOPs at --gpu-tflops sustained.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

# Canonical-order standing pose (mm, root-relative, y down): head_top, neck, r/l arm, r/l leg, pelvis, spine, head.
TEMPLATE = np.array([
    [0, -1650, 0], [0, -1450, 0], [-180, -1420, 0], [-260, -1150, 0], [-300, -900, 0], [180, -1420, 0],
    [260, -1150, 0], [300, -900, 0], [-100, -950, 0], [-110, -500, 0], [-120, -80, 0], [100, -950, 0],
    [110, -500, 0], [120, -80, 0], [0, -950, 0], [0, -1200, 0], [0, -1560, 0]], np.float64) + [0, 900, 0]
SIZES = {"h36m": (1000, 1002, 90, 1145.0, 0.45), "mpi3dhp": (2048, 2048, 95, 1500.0, 0.40)}
BATCH = 32  # the paper's batch size


def make_frames(root: Path, dataset: str, n: int, seed: int = 0) -> tuple[Path, float]:
    """n look-alike JPEG frames and a prepared 3D file for them; returns (prepared path, bits per pixel)."""
    from posebench.data import write_prepared
    from posebench.sample.render import background

    w, h, quality, f, frac = SIZES[dataset]
    rng = np.random.default_rng(seed)
    k = np.array([f, f, w / 2, h / 2])
    depth = f * 1.9 / (frac * h) * 1000  # a 1.9 m extent (head top to feet) covers frac of the height
    j3, j2, names, nbytes = [], [], [], 0
    for i in range(n):
        pose = TEMPLATE * rng.uniform(0.9, 1.1) + rng.normal(0, 30, TEMPLATE.shape)
        pose = pose + [rng.uniform(-0.1, 0.1) * depth, rng.uniform(-0.05, 0.05) * depth, depth]
        uv = pose[:, :2] / pose[:, 2:] * k[:2] + k[2:]
        rgb = background(rng, w, h)
        img = Image.fromarray(np.clip(rgb * 255 + rng.normal(0, 2, rgb.shape), 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        from posebench.skeleton import BONES

        for a, b in BONES:
            draw.line([tuple(uv[a]), tuple(uv[b])], fill=tuple(int(c) for c in rng.integers(40, 220, 3)),
                      width=int(0.03 * frac * h))
        rel = f"images/{i:04d}.jpg"
        (root / dataset / "images").mkdir(parents=True, exist_ok=True)
        img.save(root / dataset / rel, quality=quality)
        nbytes += (root / dataset / rel).stat().st_size
        j3.append(pose), j2.append(uv), names.append(rel)
    path = root / dataset / "train.h5"
    write_prepared(path, {"joints3d": np.array(j3), "joints2d": np.array(j2), "intrinsics": np.tile(k, (n, 1)),
                          "subject": np.ones(n, int), "camera": np.zeros(n, int), "frame": np.arange(n),
                          "action": np.full(n, ""), "sequence": np.full(n, "S1/Seq1"), "image": np.array(names)},
                   {"dataset": dataset, "split": "train"})
    return path, 8 * nbytes / (n * w * h)


def baseline_item(path: Path, affine: np.ndarray, size: int) -> torch.Tensor:
    """Plain Pillow: decode the whole frame, warp it (bilinear affine) into the crop, make a tensor."""
    with Image.open(path) as im:
        full = im.convert("RGB")
    crop = full.transform((size, size), Image.Transform.AFFINE, data=tuple(np.linalg.inv(affine)[:2].ravel()),
                          resample=Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(crop, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)


def decode_only(path: Path, scale: int) -> None:
    """Decode at 1/scale and nothing else (every row)."""
    with Image.open(path) as im:
        if scale > 1:
            im.draft("RGB", (im.size[0] // scale, im.size[1] // scale))
        im.load()


def decode_for_crop_only(path: Path, affine: np.ndarray, size: int) -> None:
    """Decode as ours does (DCT scale, rows down to the crop's last) and nothing else: our decode floor."""
    from margipose.images import decode_for_crop

    with Image.open(path) as im:
        decode_for_crop(im, affine, size)


def per_core(fn, n: int, repeat: int) -> float:
    """Items per CPU second of this process (best of ``repeat`` passes over n items)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for i in range(n):
            fn(i)
        best = min(best, time.process_time() - t0)
    return n / best


def training_flops_per_image() -> float:
    """Forward FLOPs of the paper model on one 256x256 image, times 3 for forward + backward."""
    from torch.utils.flop_counter import FlopCounterMode

    from margipose.model import MargiPose

    model = MargiPose().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 256, 256))
    return 3.0 * counter.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=12, help="Distinct frames per size.")
    ap.add_argument("--repeat", type=int, default=3, help="Passes per arm (the fastest counts).")
    ap.add_argument("--gpu-images-per-s", type=float, default=None,
                    help="Measured bf16 training images/s of the GPU (gpu_margipose.py); default: estimated.")
    ap.add_argument("--gpu-tflops", type=float, default=250.0,
                    help="Sustained bf16 TFLOP/s assumed for the estimate (H200 dense peak ~989; 25 %%).")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from margipose import coords
    from margipose.data import BOX_FACTOR, Pose3DDataset
    from margipose.images import draft_scale

    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in SIZES:
            path, bpp = make_frames(Path(tmp), dataset, args.images)
            plain = Pose3DDataset(path, input_size=256, augment=False)
            aug = Pose3DDataset(path, input_size=256, augment=True)
            centre, side = coords.square_box(coords.joints_box(plain.joints2d), BOX_FACTOR)
            affines = coords.image_affine(coords.make_crop(plain.intrinsics, centre, side, 256))
            files = [plain.root / p for p in plain.images]
            base = per_core(lambda i: baseline_item(files[i], affines[i], 256), args.images, args.repeat)
            ours = per_core(lambda i: plain[i], args.images, args.repeat)

            def augmented(i: int) -> None:
                aug.epoch += 1  # fresh draws each pass
                aug[i]

            ours_aug = per_core(augmented, args.images, args.repeat)
            scales = [draft_scale(a) for a in affines]
            full = per_core(lambda i: decode_only(files[i], 1), args.images, args.repeat)
            floor = per_core(lambda i: decode_only(files[i], scales[i]), args.images, args.repeat)
            rows = per_core(lambda i: decode_for_crop_only(files[i], affines[i], 256), args.images, args.repeat)
            w, h = SIZES[dataset][:2]
            dct = f"1/{min(scales)}" + (f"-{max(scales)}" if max(scales) != min(scales) else "")
            table.append((dataset, f"{w}x{h}", bpp, float(np.median(side)), dct, full, floor, rows, base, ours,
                          ours_aug))
    print(f"\n# images/s per CPU core (one process, one thread), best of {args.repeat} x {args.images} frames")
    print(f"{'dataset':<9}{'frame':>10}{'bpp':>6}{'crop px':>8}{'DCT':>7}{'decode 1/1':>11}{'decode 1/s':>11}"
          f"{'to crop':>8}{'baseline':>9}{'ours':>7}{'ours+aug':>9}{'x':>6}{'x aug':>6}{'x max':>6}")
    for name, frame, bpp, side, scale, full, floor, rows, base, ours, ours_aug in table:
        print(f"{name:<9}{frame:>10}{bpp:>6.2f}{side:>8.0f}{scale:>7}{full:>11.1f}{floor:>11.1f}{rows:>8.1f}"
              f"{base:>9.1f}{ours:>7.1f}{ours_aug:>9.1f}{ours / base:>6.2f}{ours_aug / base:>6.2f}{rows / base:>6.2f}")
    print("(decode 1/1, 1/s: decoding alone, every row, at full size and at the crop's DCT scale; to crop: decoding"
          " as ours does, at that scale and only down to the crop's last row; x max = to crop over the baseline, the"
          " most a pipeline decoding like ours could gain)")
    if args.gpu_images_per_s:
        gpu, how = args.gpu_images_per_s, "measured (--gpu-images-per-s)"
    else:
        flops = training_flops_per_image()
        gpu = args.gpu_tflops * 1e12 / flops
        how = f"estimated: {flops / 1e9:.1f} GFLOP per training image at {args.gpu_tflops:.0f} TFLOP/s sustained"
    print(f"\n# one H200 training at batch {BATCH}: {gpu:.0f} images/s ({how})")
    for name, *_, base, ours, ours_aug in table:
        print(f"{name}: {gpu / ours_aug:.1f} cores with ours (augmented), {gpu / base:.1f} with the baseline "
              f"(which does no augmentation)")


if __name__ == "__main__":
    main()

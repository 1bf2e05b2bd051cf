"""Can the CPUs feed a GPU? The MargiPose training input pipeline (read JPEG -> crop/warp -> augment -> tensor)
in images/s per CPU core at the official frame sizes, against a plain Pillow decode-then-warp baseline in the
same run.

    python benchmarks/bench_margipose_input.py                  # ~2 minutes
    python benchmarks/bench_margipose_input.py --images 16 --repeat 3 --gpu-images-per-s 900
    python benchmarks/bench_margipose_input.py --datasets h36m --repeat 5
    python benchmarks/bench_margipose_input.py --loader           # also in DataLoader workers (~5 minutes)

Frames: look-alike studio frames (posebench.sample.render's backdrop, a drawn figure, sensor grain), written as
`posebench prepare` writes them (posebench.prepare.jpeg_frames: 4:2:0, restart markers tiling each MCU row) and
again without restart markers for the baseline's second arm, at
Human3.6M's 1000x1002 (JPEG quality 90, about ffmpeg -qscale:v 3 as h36m-fetch writes) and MPI-INF-3DHP's
2048x2048 (quality 95, as `posebench prepare mpi3dhp --height 0` writes; and 768x768, the size it stores by
default), with a person about 45 % (H36M)
and 40 % (MPI) of the frame tall, as in the studio recordings. The bits per pixel are printed: decoding
cost grows with them, so real frames with more texture decode more slowly in both arms.

Arms (one process, one torch thread, as a DataLoader worker; CPU seconds of this process, so other load on
the machine counts only through shared caches and clocks; the arms take turns pass by pass and the fastest
pass counts, the least disturbed measure of a pass of a few milliseconds; augmented arms of both paths see
the same draws): baseline =
Image.open().convert("RGB") at full size, the reference's Pillow bilinear affine warp into the 256 crop, to a
tensor (on the frames as prepare writes them and on the frames without markers; the faster counts); pillow =
`margipose.data.Pose3DDataset` items on the Pillow path (target, mask, crop decoded at the reduced JPEG DCT
scale the crop allows and only over the restart segments it reads, one Pillow warp, Pillow's colour jitter),
fetched as torch's DataLoader fetches a batch (``__getitems__``: every item's file read and part cut out,
then each decoded; ``--items one`` for one ``__getitem__`` call each); ours = the same items on the compiled
path (margipose.pixels: numba warp reading Pillow's decoded pixels in place, numba colour jitter; equal to
the Pillow path bit for bit), without and with the reference augmentation (jitter, zoom,
rotation, flip, colour). Both make the crops as `margipose train` does, as uint8 tensors that the model scales
on the device to the float32 values the Dataset gives by default (margipose.backbone.BYTE_SCALE); f32 = ours
augmented with float32 tensors instead, the baseline's output type: on the build VM each fresh 768 KiB float
buffer costs ~126 page faults (~0.4 ms) an item, which the bytes avoid. Cores for a GPU = its training images/s
divided by ours (augmented) per core; the GPU
figure is --gpu-images-per-s when measured (benchmarks/gpu_margipose.py), otherwise estimated from the model's
FLOPs at --gpu-tflops sustained.

Memory: `--malloc tuned` raises glibc's mmap threshold (margipose.workers.keep_freed_memory: mallopt, 32 MB;
trim 64 MB) for the whole process before any arm, so no arm pays page faults for its large buffers; with the
default allocator a full-size 2048x2048 decode (16 MiB) can be mmapped afresh per frame, which on the build VM
(~4 us a page fault) doubled the baseline's MPI-INF-3DHP cost in some runs (37 against 18 ms a frame). Run
both; each arm is the same code either way.

In DataLoader workers (`--loader`): the arms above run in one process, whose allocator the earlier arms have
warmed, and hand back items uncollated. Training runs them in worker processes that collate each batch into
shared memory, where freed batches go back to the system and are faulted in again. `--loader` measures that:
one worker, batch 32, the worker's CPU for 10 batches less that for 2 (which cancels its start-up), for the
baseline (float32 tensors, with glibc's thresholds and with keep_freed_memory: the faster counts) and ours as
`margipose train` runs it (uint8 crops, keep_freed_memory in each worker), and ours augmented with the Dataset's
defaults (float32, glibc's thresholds).

Measured and not adopted (decoders at the same DCT scale give the same pixels here, bit for bit): simplejpeg
1.9 (libjpeg-turbo, RGBX into a reused buffer, every row) against Pillow (only down to the crop's last row,
pixels read in place), decode + warp per crop on one core: 768 frames 1.92 against 1.90 ms, H36M 1.92
against 1.73, MPI-INF-3DHP 2048 8.5 against 7.0 (before Pillow's pixels were read in place, a 1-4 MiB copy
per item, simplejpeg was 14 % faster on H36M). Its n/8 scales (5/8-7/8) are slower than 1/1 (no SIMD IDCT);
Pillow's draft mode (fast integer IDCT, no fancy upsampling) gains nothing at 1/2 and 1/4. PyTurboJPEG needs
the system libturbojpeg (partial decodes need TurboJPEG 3; Debian has 2.1): not tried; libjpeg's own
jpeg_skip_scanlines / jpeg_crop_scanline still entropy-decode what they skip. What made the difference is the
file, not the decoder: with restart markers tiling the rows (as prepare now writes frames) the segments a crop
needs are decoded alone (margipose.jpeg_parts), 1.3-1.7x faster than decoding down to the crop's last row
(columns rows and part). The decode still bounds the gain (column x max).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from margipose.workers import keep_freed_memory

# Canonical-order standing pose (mm, root-relative, y down): head_top, neck, r/l arm, r/l leg, pelvis, spine, head.
TEMPLATE = np.array([
    [0, -1650, 0], [0, -1450, 0], [-180, -1420, 0], [-260, -1150, 0], [-300, -900, 0], [180, -1420, 0],
    [260, -1150, 0], [300, -900, 0], [-100, -950, 0], [-110, -500, 0], [-120, -80, 0], [100, -950, 0],
    [110, -500, 0], [120, -80, 0], [0, -950, 0], [0, -1200, 0], [0, -1560, 0]], np.float64) + [0, 900, 0]
SIZES = {"h36m": (1000, 1002, 90, 1145.0, 0.45), "mpi3dhp": (2048, 2048, 95, 1500.0, 0.40),
         "mpi3dhp-768": (768, 768, 95, 562.5, 0.40)}  # the frame size `posebench prepare mpi3dhp` stores
BATCH = 32  # the paper's batch size


def make_frames(root: Path, dataset: str, n: int, seed: int = 0) -> tuple[Path, float]:
    """n look-alike JPEG frames and a prepared 3D file for them; returns (prepared path, bits per pixel)."""
    from posebench.data import write_prepared
    from posebench.prepare.jpeg_frames import save_frame
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
        for folder in ("images", "plain"):
            (root / dataset / folder).mkdir(parents=True, exist_ok=True)
        save_frame(img, root / dataset / rel, quality)  # as `posebench prepare` writes frames (restart markers)
        img.save(root / dataset / "plain" / f"{i:04d}.jpg", quality=quality, subsampling="4:2:0")  # without
        nbytes += (root / dataset / rel).stat().st_size
        j3.append(pose), j2.append(uv), names.append(rel)
    path = root / dataset / "train.h5"
    write_prepared(path, {"joints3d": np.array(j3), "joints2d": np.array(j2), "intrinsics": np.tile(k, (n, 1)),
                          "subject": np.ones(n, int), "camera": np.zeros(n, int), "frame": np.arange(n),
                          "action": np.full(n, ""), "sequence": np.full(n, "S1/Seq1"), "image": np.array(names)},
                   {"dataset": dataset, "split": "train"})
    return path, 8 * nbytes / (n * w * h)


def baseline_item(path: Path, affine: np.ndarray, size: int, jitter=None) -> torch.Tensor:
    """Plain Pillow: decode the whole frame, warp it (bilinear affine) into the crop, the colour ``jitter`` when
    given (margipose.images.apply_jitter: ImageEnhance and an HSV round trip, the reference's), make a tensor."""
    from margipose.images import NO_JITTER, apply_jitter

    with Image.open(path) as im:
        full = im.convert("RGB")
    crop = full.transform((size, size), Image.Transform.AFFINE, data=tuple(np.linalg.inv(affine)[:2].ravel()),
                          resample=Image.Resampling.BILINEAR)
    if jitter is not None and jitter != NO_JITTER:
        crop = apply_jitter(crop, jitter)
    return torch.from_numpy(np.asarray(crop, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)


def decode_only(path: Path, scale: int) -> None:
    """Decode at 1/scale and nothing else (every row)."""
    with Image.open(path) as im:
        if scale > 1:
            im.draft("RGB", (im.size[0] // scale, im.size[1] // scale))
        im.load()


def decode_for_crop_only(path: Path, affine: np.ndarray, size: int) -> None:
    """Decode as ours does (the restart segments the crop reads, at its DCT scale) and nothing else: our
    decode floor."""
    from margipose.images import decode_path_for_crop

    decode_path_for_crop(path, affine, size)


def decode_rows_only(path: Path, affine: np.ndarray, size: int) -> None:
    """Decode as ours did before restart segments (DCT scale, every column, rows down to the crop's last)."""
    from margipose.images import decode_for_crop

    with Image.open(path) as im:
        decode_for_crop(im, affine, size)


def per_core(fn, n: int, repeat: int) -> float:
    """Items per CPU second of this process (best of ``repeat`` passes over n items)."""
    return n / min(interleaved({"arm": (None, fn)}, n, repeat)["arm"])


def interleaved(arms: dict, n: int, repeat: int) -> dict[str, list[float]]:
    """CPU seconds of each pass of each arm {name: (setup or None, fn(i)) or (setup, fn(list of i), "batch")},
    ``repeat`` passes over n items (a batch arm gets them in one call); the arms take turns pass by pass, so a
    change in the machine's load reaches all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in arms}
    for r in range(repeat):
        for name, (setup, fn, *batch) in arms.items():
            if setup is not None:
                setup(r)
            t0 = time.process_time()
            if batch:
                fn(list(range(n)))
            else:
                for i in range(n):
                    fn(i)
            times[name].append(time.process_time() - t0)
    return times


def training_flops_per_image() -> float:
    """Forward FLOPs of the paper model on one 256x256 image, times 3 for forward + backward."""
    from torch.utils.flop_counter import FlopCounterMode

    from margipose.model import MargiPose

    model = MargiPose().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 256, 256))
    return 3.0 * counter.get_total_flops()


def measure(path: Path, images: int, repeat: int, batch: bool = True) -> tuple:
    """One frame size: the table row (see main)."""
    from margipose import coords, pixels
    from margipose.data import BOX_FACTOR, Pose3DDataset
    from margipose.images import Jitter, draft_scale, draw_jitter

    plain = Pose3DDataset(path, input_size=256, augment=False, image_dtype=torch.uint8)  # as `train` makes them
    aug = Pose3DDataset(path, input_size=256, augment=True, image_dtype=torch.uint8)
    aug32 = Pose3DDataset(path, input_size=256, augment=True)  # float32 crops, the Dataset's default
    centre, side = coords.square_box(coords.joints_box(plain.joints2d), BOX_FACTOR)
    affines = coords.image_affine(coords.make_crop(plain.intrinsics, centre, side, 256))
    files = [plain.root / p for p in plain.images]

    def augmented(i: int) -> None:
        aug.epoch += 1  # fresh draws each item
        aug[i]

    def augmented32(i: int) -> None:
        aug32.epoch += 1
        aug32[i]

    def augmented_batch(indices: list[int]) -> None:
        aug.__getitems__(indices)  # fresh draws each item (its index) and pass (the epoch, set by setup)

    def path(compiled: bool, epoch0: int | None = None):
        def setup(r: int) -> None:
            pixels.set_compiled(compiled)
            if epoch0 is not None:  # both paths and both dtypes see the same draws, fresh ones each pass
                aug.epoch = aug32.epoch = epoch0 + r * 1000
        return setup

    plain_files = [f.parent.parent / "plain" / f.name for f in files]
    drawn: list[tuple[np.ndarray, object]] = []  # (affine, jitter) of each item this pass, as ours+aug draws them

    def draws(r: int) -> None:  # untimed: the baseline is not charged for the draws
        aug.epoch = r * 1000
        planned = [aug._plan(i) for i in range(images)]
        drawn[:] = [(p.affine, draw_jitter(p.rng)) for p in planned]

    arms = {"baseline": (None, lambda i: baseline_item(files[i], affines[i], 256)),
            "baseline plain": (None, lambda i: baseline_item(plain_files[i], affines[i], 256)),
            "baseline+aug": (draws, lambda i: baseline_item(files[i], drawn[i][0], 256, drawn[i][1])),
            "baseline+aug plain": (None, lambda i: baseline_item(plain_files[i], drawn[i][0], 256, drawn[i][1]))}
    # the second baseline+aug arm runs right after the first in each pass and uses the draws it made
    for name, on in (("pillow", False), ("ours", True)):
        if pixels.set_compiled(on) != on:
            continue  # numba not installed (or POSEBENCH_NUMBA=0)
        plain[0]  # load the kernels before timing, the jitter's in both forms too
        for dtype in (torch.float32, torch.uint8):
            pixels.planes_to_tensor(np.zeros((3, 8, 8), np.uint8), Jitter(1.1, 1.1, 1.1, 3), dtype)
        if batch:  # as torch's DataLoader fetches a batch (Dataset.__getitems__)
            arms[name] = (path(on), plain.__getitems__, "batch")
            arms[name + "+aug"] = (path(on, 0), augmented_batch, "batch")
            if on:
                arms["ours+aug f32"] = (path(on, 0), aug32.__getitems__, "batch")
        else:
            arms[name] = (path(on), lambda i: plain[i])
            arms[name + "+aug"] = (path(on, 0), augmented)
            if on:
                arms["ours+aug f32"] = (path(on, 0), augmented32)
    arms = {name: images / min(t) for name, t in interleaved(arms, images, repeat).items()}
    for name in ("pillow", "pillow+aug", "ours", "ours+aug", "ours+aug f32"):
        arms.setdefault(name, float("nan"))
    pixels.set_compiled(True)
    scales = [draft_scale(a) for a in affines]
    full = per_core(lambda i: decode_only(files[i], 1), images, repeat)
    floor = per_core(lambda i: decode_only(files[i], scales[i]), images, repeat)
    rows = per_core(lambda i: decode_rows_only(plain_files[i], affines[i], 256), images, repeat)
    part = per_core(lambda i: decode_for_crop_only(files[i], affines[i], 256), images, repeat)
    dct = f"1/{min(scales)}" + (f"-{max(scales)}" if max(scales) != min(scales) else "")
    return float(np.median(side)), dct, full, floor, rows, part, arms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=12, help="Distinct frames per size.")
    ap.add_argument("--repeat", type=int, default=5,
                    help="Passes per arm (the fastest counts).")
    ap.add_argument("--malloc", choices=("default", "tuned"), default="default",
                    help="glibc allocator: as it starts, or with the mmap threshold raised (see the docstring).")
    ap.add_argument("--items", choices=("batch", "one"), default="batch",
                    help="Dataset items as torch's DataLoader fetches them (a pass's frames in one __getitems__ "
                         "call: every item read, then each decoded), or one __getitem__ call each.")
    ap.add_argument("--datasets", nargs="+", choices=tuple(SIZES), default=tuple(SIZES),
                    help="Frame sizes to measure (default: all).")
    ap.add_argument("--gpu-images-per-s", type=float, default=None,
                    help="Measured bf16 training images/s of the GPU (gpu_margipose.py); default: estimated.")
    ap.add_argument("--gpu-tflops", type=float, default=250.0,
                    help="Sustained bf16 TFLOP/s assumed for the estimate (H200 dense peak ~989; 25 %%).")
    ap.add_argument("--loader", action="store_true",
                    help="Also measure in torch DataLoader workers (batch 32, collated), as training runs them.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from input_workers import measure_in_workers  # beside this script
    malloc = "tuned (mallopt)" if args.malloc == "tuned" and keep_freed_memory() else "default"
    from margipose import pixels

    table, loader_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            path, bpp = make_frames(Path(tmp), dataset, args.images)
            w, h = SIZES[dataset][:2]
            table.append((dataset, f"{w}x{h}", bpp, *measure(path, args.images, args.repeat, args.items == "batch")))
            if args.loader:
                loader_rows.append((dataset, measure_in_workers(path, args.repeat, baseline_item, BATCH)))
    print(f"\n# images/s per CPU core (one process, one thread), best of {args.repeat} passes over {args.images} "
          f"frames; "
          f"allocator {malloc}; compiled kernels {'on' if pixels.compiled() else 'not available'}; Dataset items "
          f"{'by batch (__getitems__)' if args.items == 'batch' else 'one by one'}")
    print(f"{'dataset':<12}{'frame':>10}{'bpp':>5}{'crop':>5}{'DCT':>6}{'dec 1/1':>8}{'dec 1/s':>8}{'rows':>7}"
          f"{'part':>7}{'base':>7}{'plain':>7}{'b+aug':>7}{'pillow':>7}{'+aug':>7}{'ours':>7}{'+aug':>7}{'f32':>7}"
          f"{'x':>6}{'x aug':>6}{'x f32':>6}{'x a/a':>6}{'x max':>6}")
    for name, frame, bpp, side, scale, full, floor, rows, part, arms in table:
        base = max(arms["baseline"], arms["baseline plain"])  # the faster baseline counts
        base_aug = max(arms["baseline+aug"], arms["baseline+aug plain"])
        print(f"{name:<12}{frame:>10}{bpp:>5.2f}{side:>5.0f}{scale:>6}{full:>8.1f}{floor:>8.1f}{rows:>7.1f}"
              f"{part:>7.1f}{arms['baseline']:>7.1f}{arms['baseline plain']:>7.1f}{base_aug:>7.1f}"
              f"{arms['pillow']:>7.1f}"
              f"{arms['pillow+aug']:>7.1f}{arms['ours']:>7.1f}{arms['ours+aug']:>7.1f}{arms['ours+aug f32']:>7.1f}"
              f"{arms['ours'] / base:>6.2f}{arms['ours+aug'] / base:>6.2f}{arms['ours+aug f32'] / base:>6.2f}"
              f"{arms['ours+aug'] / base_aug:>6.2f}{part / base:>6.2f}")
    print("(dec 1/1, 1/s: decoding alone, every row, at full size and at the crop's DCT scale; rows: at that scale"
          " and only down to the crop's last row (a file without restart markers); part: decoding as ours does,"
          " only the restart segments the crop reads, at that scale; base, plain: the baseline on the frames as"
          " prepare writes them (restart markers) and on the same frames written without; b+aug: the baseline with the"
          " reference augmentation done the plain way (the same draws as ours+aug: the warp through the augmented"
          " map, then Pillow's colour jitter), the faster of the two kinds of frame; pillow, ours: uint8 crops"
          " as `margipose train` makes them (the model scales them on the device); f32: ours augmented, as float32"
          " tensors (the Dataset's default, the baseline's type); x, x aug, x f32: ours over the faster baseline;"
          " x a/a: ours+aug over b+aug; x max = part over it, the most a pipeline decoding like ours could gain; crop:"
          " median side, px)")
    if loader_rows:
        print(f"\n# images/s per CPU core in a DataLoader worker (batch {BATCH}, collated into shared memory; worker "
              f"CPU of 10 batches less that of 2; medians of {args.repeat} repeats, x: of the ratio within a "
              f"repeat); {args.images} frames cycled")
        print(f"{'dataset':<12}{'base':>7}{'tuned':>7}{'ours':>7}{'+aug':>7}{'f32':>7}{'x':>6}{'x aug':>6}{'x f32':>6}")
        for name, runs in loader_rows:
            r = {arm: float(np.median(v)) for arm, v in runs.items()}
            base = np.maximum(runs["baseline"], runs["baseline tuned"])  # the faster, repeat by repeat
            x = {arm: float(np.median(np.asarray(runs[arm]) / base))
                 for arm in ("ours", "ours+aug", "ours+aug f32 default")}
            print(f"{name:<12}{r['baseline']:>7.1f}{r['baseline tuned']:>7.1f}{r['ours']:>7.1f}{r['ours+aug']:>7.1f}"
                  f"{r['ours+aug f32 default']:>7.1f}{x['ours']:>6.2f}{x['ours+aug']:>6.2f}"
                  f"{x['ours+aug f32 default']:>6.2f}")
        print("(base, tuned: the baseline (frames without markers, float32 tensors) with glibc's allocator thresholds"
              " and with margipose.workers.keep_freed_memory, the faster counts; ours, +aug: uint8 crops with"
              " keep_freed_memory, as `margipose train` runs its workers; f32: ours augmented as the Dataset's"
              " defaults give it, float32 crops, glibc's thresholds)")
    if args.gpu_images_per_s:
        gpu, how = args.gpu_images_per_s, "measured (--gpu-images-per-s)"
    else:
        flops = training_flops_per_image()
        gpu = args.gpu_tflops * 1e12 / flops
        how = f"estimated: {flops / 1e9:.1f} GFLOP per training image at {args.gpu_tflops:.0f} TFLOP/s sustained"
    print(f"\n# one H200 training at batch {BATCH}: {gpu:.0f} images/s ({how})")
    for name, *_, arms in table:
        print(f"{name}: {gpu / arms['ours+aug']:.1f} cores with ours (augmented), {gpu / arms['pillow+aug']:.1f} on "
              f"the Pillow path (augmented), {gpu / max(arms['baseline'], arms['baseline plain']):.1f} with the baseline "
              f"(no augmentation)")


if __name__ == "__main__":
    main()

"""Frame extraction and parallel preparation speed of `posebench prepare h36m`, against baselines run here.

1. Selected frames per second at stride 64 on the same look-alike videos, at the encoder's default key-frame
   spacing (250) and at a short one (16): the preparer's extractor (seek to the key frame, decode from there,
   write only wanted frames) vs the reference approach (decode every frame, write each as JPEG, keep every
   64th). Both write JPEGs with the same settings and check the same frames come out.
2. Wall time of the whole preparation with --jobs 2 vs --jobs 1 on the same tree.

    python benchmarks/bench_prepare_h36m.py [--size 256] [--frames 384] [--short-gop 16] [--video-width 1000]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from posebench.prepare.h36m import prepare_h36m
from posebench.prepare.video import JPEG_QUALITY, decode_all, extract_jpegs, index_video
from posebench.sample.h36m import write_tree
from posebench.sample.media import write_mp4

STRIDE = 64


def reencode(videos: list[Path], out_dir: Path, gop: int, width: int = 0) -> list[Path]:
    """The same frames encoded again with another key-frame spacing (and, if ``width``, resized to it)."""
    from PIL import Image

    out = []
    for v in videos:
        frames = decode_all(v)
        if width:
            h = int(round(frames[0].shape[0] * width / frames[0].shape[1] / 2)) * 2
            frames = [np.asarray(Image.fromarray(f).resize((width, h), Image.BILINEAR)) for f in frames]
        target = out_dir / v.name
        write_mp4(target, np.stack(frames), gop=gop)
        out.append(target)
    return out


def reference(video: Path, out_dir: Path) -> list[int]:
    """Decode every frame, write each as JPEG, then keep every 64th (what a plain ffmpeg export does)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with av.open(str(video)) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            frame.to_image().save(out_dir / f"{i:06d}.jpg", format="JPEG", quality=JPEG_QUALITY)  # plain, not atomic
    kept = []
    for p in sorted(out_dir.glob("*.jpg")):
        i = int(p.stem)
        if i % STRIDE:
            p.unlink()
        else:
            kept.append(i)
    return kept


def extractor(video: Path, out_dir: Path) -> list[int]:
    out_dir.mkdir(parents=True, exist_ok=True)
    n = index_video(video).frames
    return extract_jpegs(video, {i: out_dir / f"{i:06d}.jpg" for i in range(0, n, STRIDE)})


def time_extraction(videos: list[Path], work: Path, label: str) -> tuple[float, float]:
    rates = []
    outs = []
    for name, fn in (("reference", reference), ("extractor", extractor)):
        start = time.perf_counter()
        kept = sum(len(fn(v, work / name / v.stem)) for v in videos)
        seconds = time.perf_counter() - start
        rates.append(kept / seconds)
        outs.append(kept)
        print(f"  {label:<8} {name:<10} {kept:5d} selected frames in {seconds:7.2f} s = {kept / seconds:8.1f} frames/s")
    assert outs[0] == outs[1], "both approaches must give the same frames"
    for v in videos[:2]:  # same pixels: identical JPEG bytes for identical decoded frames
        for p in (work / "extractor" / v.stem).glob("*.jpg"):
            assert p.read_bytes() == (work / "reference" / v.stem / p.name).read_bytes(), p
    print(f"  {label:<8} speed-up {rates[1] / rates[0]:.1f}x")
    return rates[0], rates[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256, help="video width in px (official: 1000)")
    ap.add_argument("--frames", type=int, default=384, help="pose frames per sequence")
    ap.add_argument("--short-gop", type=int, default=16)
    ap.add_argument("--video-width", type=int, default=0,
                    help="for part 1, resize 4 of the rendered videos to this width (e.g. 1000, official)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder, removed)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-h36m-"))
    try:
        t = time.perf_counter()
        raw = work / "raw"
        write_tree(raw, seed=0, subjects=[9], size=args.size, gop=250, n_frames=args.frames, corrupt_video=False)
        videos = sorted((raw / "S9" / "Videos").glob("*.mp4"))
        if args.video_width:  # official-size videos without the cost of rendering at that size
            videos = reencode(videos[:4], work / "gop250", 250, args.video_width)
        short = reencode(videos, work / f"gop{args.short_gop}", args.short_gop)
        idx = index_video(videos[0])
        print(f"videos: {len(videos)} x ~{idx.frames} frames at {idx.width}x{idx.height} (made in "
              f"{time.perf_counter() - t:.1f} s); stride {STRIDE}")
        print("1. selected frames per second (higher is better)")
        r250 = time_extraction(videos, work / "x250", "gop 250")
        rshort = time_extraction(short, work / f"x{args.short_gop}", f"gop {args.short_gop}")
        print("2. whole preparation (S9: 3 sequences x 4 cameras, poses, intrinsics, frames, merge)")
        walls = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            s = prepare_h36m(raw, work / f"data-j{jobs}", jobs=jobs, subjects=[9], progress=False)
            walls[jobs] = time.perf_counter() - start
            print(f"  --jobs {jobs}: {walls[jobs]:6.2f} s  ({s.outputs['test']['rows']} rows, "
                  f"content {s.outputs['test']['content_hash'][:12]})")
        print(f"  --jobs 2 vs --jobs 1: {walls[1] / walls[2]:.2f}x faster")
        print(f"summary: extractor vs reference {r250[1] / r250[0]:.1f}x at gop 250 (target >= 3x), "
              f"{rshort[1] / rshort[0]:.1f}x at gop {args.short_gop}; jobs 2 {walls[1] / walls[2]:.2f}x")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

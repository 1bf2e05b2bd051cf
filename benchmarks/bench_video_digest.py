"""What keying shards on content costs: the full SHA-256 of an official-size Human3.6M video (1000x1002,
50 fps, 60 s, H.264) against decoding the frames a preparer needs from it.

    python benchmarks/bench_video_digest.py                         # generates the video in a temp folder (~3 min)
    python benchmarks/bench_video_digest.py --video /tmp/v.mp4      # reuse (or keep) the generated video

Measured 2026-12-01 on the shared 2-core machine, page cache warm: 61 MB, digest 151 ms (0.40 GB/s),
demux index 126 ms, decoding every 5th frame (600 frames) 11.2 s: the digest is 1.3% of the decode.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def make_video(path: Path, seconds: int = 60, fps: int = 50, size: tuple[int, int] = (1000, 1002)) -> None:
    """A moving noise texture, H.264 at ~8 Mbit/s (about the official files' bytes per second)."""
    import av
    import numpy as np

    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    stream.bit_rate = 8_000_000
    stream.options = {"preset": "ultrafast"}
    base = np.random.default_rng(0).integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    for i in range(seconds * fps):
        img = np.roll(base, i * 3, axis=1)
        img[(i * 7) % (size[1] - 100):(i * 7) % (size[1] - 100) + 100, :, 0] = 255
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="Use (or create) this video instead of a temporary one.")
    args = ap.parse_args()
    from posebench.prepare.shards import _DIGESTS, content_digest
    from posebench.prepare.video import index_video, iter_frames

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or Path(tmp) / "official-size.mp4"
        if not video.exists():
            make_video(video)
        size = video.stat().st_size
        times = []
        for _ in range(3):
            _DIGESTS.clear()
            t = time.perf_counter()
            content_digest(video)
            times.append(time.perf_counter() - t)
        digest = min(times)
        t = time.perf_counter()
        idx = index_video(video)
        t_index = time.perf_counter() - t
        t = time.perf_counter()
        n = sum(1 for _ in iter_frames(video, list(range(0, idx.frames, 5))))
        t_decode = time.perf_counter() - t
        print(f"video {size / 1e6:.1f} MB ({idx.width}x{idx.height}, {idx.frames} frames): digest {digest * 1000:.0f} ms "
              f"({size / digest / 1e9:.2f} GB/s); demux index {t_index * 1000:.0f} ms; decoding every 5th frame "
              f"({n} frames) {t_decode:.1f} s; digest = {100 * digest / t_decode:.1f}% of the decode")


if __name__ == "__main__":
    main()

"""Look-alike media files: MPEG-4 AVI videos (MPI-INF-3DHP), H.264 MP4 videos (Human3.6M), JPEG images.

Written with PyAV and Pillow, atomically; deterministic for the same frames.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from posebench.io_utils import atomic_path


def write_avi(path: Path, frames: np.ndarray, fps: int) -> None:
    """(N, H, W, 3) uint8 -> an AVI (MPEG-4 part 2) written with PyAV, atomically."""
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="avi") as container:
            stream = container.add_stream("mpeg4", rate=int(fps))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 4_000_000
            stream.codec_context.thread_count = 1
            for img in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def write_jpeg(path: Path, img: np.ndarray, quality: int = 92) -> None:
    """(H, W, 3) uint8 -> a JPEG (4:4:4 chroma), atomically."""
    with atomic_path(path) as tmp:
        # 4:4:4 chroma: at <= 128 px, 4:2:0 would bleed the body-part colours of thin limbs.
        Image.fromarray(img).save(tmp, format="JPEG", quality=quality, subsampling=0)


def write_mp4(path: Path, frames: np.ndarray, gop: int = 250, fps: int = 50) -> None:
    """Encode (N, H, W, 3) uint8 frames as H.264 (libx264, yuv420p) in MP4, a key frame every ``gop``."""
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.gop_size = gop
            stream.options = {"preset": "veryfast", "crf": "18",
                              "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

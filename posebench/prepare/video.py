"""Selected video frames with PyAV: seek to the key frame before each wanted frame, decode only from there.

Frame i is the i-th frame in presentation order, as a full decode from the start yields it. The packet
index (demuxed, not decoded) gives every frame's timestamp and the key frames; for each wanted frame the
reader seeks to its key frame unless the decoder is already between that key frame and the target, skips
non-reference frames it does not need (nothing depends on them), and converts only wanted frames to pixels.
Streams without timestamps fall back to a full sequential decode.
"""
from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from posebench.errors import PosebenchError
from posebench.io_utils import atomic_path
from posebench.prepare.jpeg_frames import save_frame

JPEG_QUALITY = 90


class VideoError(PosebenchError):
    """A video file is missing, unreadable or corrupt."""


@dataclass(frozen=True)
class VideoIndex:
    """Presentation-order timestamps of a video stream's frames and which of them are key frames."""

    width: int
    height: int
    pts: np.ndarray  # (F,) int64, sorted: frame i has pts[i]
    keyframes: np.ndarray  # (K,) int64 pts of key frames, sorted

    @property
    def frames(self) -> int:
        return len(self.pts)


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
        if not container.streams.video:
            container.close()
            raise VideoError(f"{path}: no video stream")
        return container
    except (av.FFmpegError, OSError) as e:
        raise VideoError(f"{path}: unreadable video ({_reason(e)})") from None


def _reason(e: Exception) -> str:
    """FFmpeg's own words, without the path it repeats."""
    return str(getattr(e, "strerror", None) or e)


def index_video(path: str | os.PathLike) -> VideoIndex:
    """Demux (without decoding) to list every frame's timestamp and the key frames."""
    with _open(path) as container:
        return _index(container, path)


def _index(container: av.container.InputContainer, path: str | os.PathLike) -> VideoIndex:
    stream = container.streams.video[0]
    pts, keys = [], []
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:  # a full decode does not output discarded packets
                continue
            if packet.pts is None:
                pts.append(None)
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
    except (av.FFmpegError, OSError) as e:
        raise VideoError(f"{path}: corrupt video ({_reason(e)})") from None
    width, height = stream.codec_context.width, stream.codec_context.height
    if any(p is None for p in pts) or not keys:
        return VideoIndex(width, height, np.zeros(0, np.int64), np.zeros(0, np.int64))  # no timestamps
    return VideoIndex(width, height, np.sort(np.asarray(pts, np.int64)), np.sort(np.asarray(keys, np.int64)))


def iter_frames(path: str | os.PathLike, frames: Iterable[int]) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield (i, frame) for each wanted frame index i (ascending) that the video has.

    Wanted indices past the end of the video are not yielded; a decoding error raises VideoError.
    """
    wanted = sorted({int(i) for i in frames if int(i) >= 0})
    if not wanted:
        return
    with _open(path) as container:
        idx = _index(container, path)
        try:
            if idx.frames == 0:
                yield from _sequential(container, wanted)
            else:
                yield from _seeking(container, idx, [i for i in wanted if i < idx.frames])
        except (av.FFmpegError, OSError) as e:
            raise VideoError(f"{path}: corrupt video ({_reason(e)})") from None


def _sequential(container: av.container.InputContainer, wanted: list[int]) -> Iterator[tuple[int, av.VideoFrame]]:
    container.seek(0)
    want = set(wanted)
    last = wanted[-1]
    for i, frame in enumerate(container.decode(container.streams.video[0])):
        if i in want:
            yield i, frame
        if i >= last:
            return


def _seeking(container: av.container.InputContainer, idx: VideoIndex,
             wanted: list[int]) -> Iterator[tuple[int, av.VideoFrame]]:
    stream = container.streams.video[0]
    targets = [int(idx.pts[i]) for i in wanted]
    wanted_pts = set(targets)
    keyframes = idx.keyframes.tolist()
    decoder: Iterator[av.VideoFrame] | None = None
    position: int | None = None  # pts of the last decoded frame
    for i, target in zip(wanted, targets):
        key = int(keyframes[max(bisect.bisect_right(keyframes, target) - 1, 0)])
        if decoder is None or position is None or position >= target or key > position:
            container.seek(key, stream=stream, backward=True, any_frame=False)
            stream.codec_context.flush_buffers()
            decoder = _decode(container, stream, wanted_pts)
            position = None
        for frame in decoder:
            if frame.pts is None:
                continue
            position = frame.pts
            if frame.pts >= target:
                break
        else:
            return  # the stream ended early (truncated file): no more frames to give
        if position == target:
            yield i, frame


def _decode(container: av.container.InputContainer, stream: av.VideoStream,
            wanted_pts: set[int]) -> Iterator[av.VideoFrame]:
    """Decode from the current position, skipping non-reference frames that are not wanted.

    A non-reference frame is, by definition, used by no other frame, so skipping it changes no other
    frame's pixels; wanted frames are always decoded in full.
    """
    ctx = stream.codec_context
    for packet in container.demux(stream):
        ctx.skip_frame = "DEFAULT" if packet.pts is None or packet.pts in wanted_pts else "NONREF"
        yield from ctx.decode(packet)


def read_frames(path: str | os.PathLike, frames: Iterable[int]) -> dict[int, np.ndarray]:
    """{i: (H, W, 3) uint8 RGB} for the wanted frames the video has."""
    return {i: f.to_ndarray(format="rgb24") for i, f in iter_frames(path, frames)}


def decode_all(path: str | os.PathLike) -> list[np.ndarray]:
    """Every frame of a full decode from the start, as RGB arrays (tests and the reference benchmark)."""
    with _open(path) as container:
        try:
            return [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
        except (av.FFmpegError, OSError) as e:
            raise VideoError(f"{path}: corrupt video ({_reason(e)})") from None


def save_jpeg(frame: av.VideoFrame | np.ndarray, path: str | os.PathLike, quality: int = JPEG_QUALITY) -> None:
    """Write a frame as a JPEG file atomically (deterministic bytes for the same pixels)."""
    from PIL import Image

    image = frame.to_image() if isinstance(frame, av.VideoFrame) else Image.fromarray(frame)
    with atomic_path(path) as tmp:
        save_frame(image, tmp, quality)


def extract_jpegs(path: str | os.PathLike, targets: Mapping[int, str | os.PathLike],
                  quality: int = JPEG_QUALITY) -> list[int]:
    """Write frame i of the video to ``targets[i]`` for each i the video has; returns the frames written."""
    written = []
    for i, frame in iter_frames(path, targets):
        save_jpeg(frame, targets[i], quality)
        written.append(i)
    return written

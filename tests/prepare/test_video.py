"""Selected-frame extraction equals a full decode, at long and short key-frame spacing; clear errors."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from posebench.prepare.video import VideoError, decode_all, extract_jpegs, index_video, read_frames

N_FRAMES = 90


def _encode(path: Path, gop: int, n: int = N_FRAMES, size: tuple[int, int] = (96, 64)) -> Path:
    """A small H.264 MP4 with B-frames whose frames all differ (moving gradient plus noise)."""
    rng = np.random.default_rng(gop)
    w, h = size
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=50)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.gop_size = gop
        s.options = {"bf": "3", "keyint_min": str(min(gop, 25)), "sc_threshold": "0"}
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(n):
            img = np.stack([(xx * 2 + i * 7) % 256, (yy * 3 + i * 5) % 256, (xx + yy + i * 11) % 256], -1)
            img = (img + rng.integers(0, 30, img.shape)).clip(0, 255).astype(np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[int, Path]:
    d = tmp_path_factory.mktemp("videos")
    return {gop: _encode(d / f"gop{gop}.mp4", gop) for gop in (8, 250)}


@pytest.mark.parametrize("gop", [8, 250])
def test_selected_frames_equal_full_decode(videos, gop):
    full = decode_all(videos[gop])
    assert len(full) == N_FRAMES
    idx = index_video(videos[gop])
    assert idx.frames == N_FRAMES and (idx.width, idx.height) == (96, 64)
    assert len(idx.keyframes) >= (N_FRAMES // gop)
    wanted = [0, 1, 7, 8, 9, 30, 31, 64, 88, 89, 200]  # 200 is past the end: not returned
    got = read_frames(videos[gop], wanted)
    assert sorted(got) == [i for i in wanted if i < N_FRAMES]
    for i, img in got.items():
        np.testing.assert_array_equal(img, full[i], err_msg=f"frame {i} differs from the full decode")


def test_stride_64_jpegs_written_atomically(videos, tmp_path):
    targets = {i: tmp_path / f"{i:06d}.jpg" for i in range(0, N_FRAMES, 64)}
    assert extract_jpegs(videos[250], targets) == [0, 64]
    assert all(p.stat().st_size > 0 for p in targets.values())
    assert not list(tmp_path.glob(".*.tmp"))


def test_truncated_video_gives_the_frames_it_has(videos, tmp_path):
    data = videos[8].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    try:
        got = read_frames(cut, range(0, N_FRAMES, 10))
    except VideoError as e:  # a clear error is also acceptable for a file cut mid-header
        assert "cut.mp4" in str(e)
    else:
        full = decode_all(videos[8])
        assert len(got) < N_FRAMES // 10 + 1
        for i, img in got.items():
            np.testing.assert_array_equal(img, full[i])


@pytest.mark.parametrize("content", [None, b"", b"not a video at all" * 100])
def test_missing_or_garbage_video_is_a_clear_error(tmp_path, content):
    p = tmp_path / "Directions.54138969.mp4"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(VideoError, match="Directions.54138969.mp4"):
        read_frames(p, [0])


@pytest.mark.parametrize("gop", [8, 250])
def test_every_frame_and_stride_alone_equals_full_decode(videos, gop):
    """Each frame asked for on its own (a seek each time, non-reference frames skipped) and several strides."""
    full = decode_all(videos[gop])
    for i in range(N_FRAMES):
        np.testing.assert_array_equal(read_frames(videos[gop], [i])[i], full[i], err_msg=f"frame {i}")
    for stride in (2, 3, 5, 64):
        got = read_frames(videos[gop], range(0, N_FRAMES, stride))
        assert sorted(got) == list(range(0, N_FRAMES, stride))
        for i, img in got.items():
            np.testing.assert_array_equal(img, full[i], err_msg=f"stride {stride} frame {i}")

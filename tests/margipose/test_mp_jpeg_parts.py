"""margipose.jpeg_parts: the restart segments a box needs form a JPEG whose pixels equal the frame's.

Files are written by libjpeg (Pillow's encoder, ``restart_marker_blocks`` / ``restart_marker_rows``: DRI and
RSTn as the standard places them), not by anything in posebench, and decoded by libjpeg both whole and in part.
"""
import io

import numpy as np
import pytest
from PIL import Image

from margipose import jpeg_parts
from margipose.jpeg_parts import part, tiling


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def scan_path(request, monkeypatch):
    """Every test runs on both paths: the compiled scan and assembly (margipose._jpeg_numba) and NumPy's."""
    if request.param == "numpy":
        monkeypatch.setattr(jpeg_parts, "_kernel", None)
        monkeypatch.setattr(jpeg_parts, "_unavailable", True)
    elif jpeg_parts._compiled() is None:
        pytest.skip("numba (the fast extra) is not installed")
    return request.param


def _jpeg(width, height, mode="RGB", seed=0, **options) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    smooth = 128 + 90 * np.sin(xx / 17.0 + yy / 23.0)  # texture plus noise: every block has AC terms
    pixels = np.clip(smooth[..., None] + rng.normal(0, 40, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels if mode == "RGB" else pixels[..., 0], mode)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90, **options)
    return buf.getvalue()


def _decode(data: bytes, scale: int) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        if scale > 1:
            im.draft(im.mode, (im.size[0] // scale, im.size[1] // scale))
        im.load()
        return np.asarray(im)


CASES = [  # (width, height, mode, options): 4:2:0 / 4:2:2 / 4:4:4 / grey; intervals within a row and whole rows
    (300, 200, "RGB", {"subsampling": "4:2:0", "restart_marker_blocks": 19}),   # 19 MCUs a row: one segment
    (640, 360, "RGB", {"subsampling": "4:2:0", "restart_marker_blocks": 8}),    # 40 MCUs: 5 segments
    (1000, 250, "RGB", {"subsampling": "4:2:0", "restart_marker_blocks": 7}),   # H36M's width: 63 = 9 x 7
    (203, 150, "RGB", {"subsampling": "4:2:2", "restart_marker_blocks": 13}),   # 13 MCUs (16 x 8) a row
    (120, 90, "RGB", {"subsampling": "4:4:4", "restart_marker_blocks": 5}),     # 8 x 8 MCUs
    (130, 70, "L", {"restart_marker_blocks": 17}),                               # grey: MCU = one block
    (333, 190, "RGB", {"subsampling": "4:2:0", "restart_marker_rows": 2}),      # two MCU rows a segment
]


@pytest.mark.parametrize("width, height, mode, options", CASES)
def test_a_part_decodes_to_the_frames_pixels_at_every_dct_scale(width, height, mode, options):
    data = _jpeg(width, height, mode, **options)
    tiles = tiling(data)
    assert tiles is not None and (tiles.width, tiles.height) == (width, height)
    rng = np.random.default_rng(width)
    frames = {s: _decode(data, s) for s in (1, 2, 4, 8)}
    smaller = 0
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x0, y0, int(rng.integers(x0 + 1, width + 1)), int(rng.integers(y0 + 1, height + 1)))
        p = part(data, tiles, box)
        assert p.x <= max(0, box[0] - tiles.mcu[0]) and p.y <= max(0, box[1] - tiles.mcu[1])
        assert p.x + p.width >= min(width, box[2] + tiles.mcu[0]) and p.y + p.height >= min(height, box[3] + tiles.mcu[1])
        smaller += len(p.data) < len(data)
        for s, frame in frames.items():
            got = _decode(p.data, s)
            assert got.shape[:2] == (-(-p.height // s), -(-p.width // s))
            want = frame[p.y // s:p.y // s + got.shape[0], p.x // s:p.x // s + got.shape[1]]
            bx0, by0 = (box[0] - p.x) // s, (box[1] - p.y) // s
            bx1, by1 = -(-(box[2] - p.x) // s), -(-(box[3] - p.y) // s)
            assert np.array_equal(got[by0:by1, bx0:bx1], want[by0:by1, bx0:bx1]), (box, s)
            if s > 1:  # no fancy upsampling at reduced scale (Pillow's draft): the whole part is the frame's
                assert np.array_equal(got, want), (box, s)
    assert smaller > 0


def test_a_box_that_needs_the_whole_frame_gives_the_file_unchanged():
    data = _jpeg(256, 128, subsampling="4:2:0", restart_marker_blocks=4)
    tiles = tiling(data)
    for box in [(0, 0, 256, 128), (10, 10, 250, 120), (5, 5, 5, 5), (-50, -50, 900, 900)]:
        whole = part(data, tiles, box)
        assert whole.data is data and (whole.x, whole.y, whole.width, whole.height) == (0, 0, 256, 128)


def test_the_segments_are_indexed_where_libjpeg_put_them():
    data = _jpeg(640, 360, subsampling="4:2:0", restart_marker_blocks=8)
    tiles = tiling(data)
    assert tiles.mcu == (16, 16) and tiles.seg == (8, 1) and tiles.per_row == 5
    assert len(tiles.starts) == 5 * 23  # 360 px: 23 MCU rows
    b = np.frombuffer(data, np.uint8)
    assert (b[tiles.ends[:-1]] == 0xFF).all() and np.array_equal(b[tiles.ends[:-1] + 1], 0xD0 + np.arange(114) % 8)
    assert bytes(b[tiles.ends[-1]:tiles.ends[-1] + 2]) == b"\xff\xd9"
    assert np.array_equal(tiles.starts[1:], tiles.ends[:-1] + 2)


def _replace_marker(data: bytes, index: int, new: int) -> bytes:
    tiles = tiling(data)
    out = bytearray(data)
    out[tiles.ends[index] + 1] = new
    return bytes(out)


@pytest.mark.parametrize("make, why", [
    (lambda: _jpeg(200, 100), "no restart interval"),
    (lambda: _jpeg(200, 100, progressive=True, restart_marker_blocks=13), "progressive: several scans"),
    (lambda: _jpeg(200, 100, subsampling="4:2:0", restart_marker_blocks=5), "5 MCUs straddle a 13-MCU row"),
    (lambda: _jpeg(200, 100, restart_marker_blocks=13)[:-900], "truncated: no EOI"),
    (lambda: _replace_marker(_jpeg(208, 100, subsampling="4:2:0", restart_marker_blocks=13), 3, 0xD5), "RST out of order"),
    (lambda: _replace_marker(_jpeg(208, 100, subsampling="4:2:0", restart_marker_blocks=13), 3, 0xD9), "EOI too early"),
    (lambda: b"\xff\xd8\xff\xd9", "no frame"),
    (lambda: b"not a jpeg at all", "not a JPEG"),
    (lambda: b"", "empty"),
])
def test_files_without_a_usable_tiling_are_left_to_the_whole_frame_decoder(make, why):
    assert tiling(make()) is None, why


def test_a_header_that_lies_about_the_frame_is_refused():
    data = bytearray(_jpeg(208, 96, subsampling="4:2:0", restart_marker_blocks=13))
    tiles = tiling(bytes(data))
    data[tiles.sof + 5:tiles.sof + 9] = bytes([0x20, 0x00, 0x20, 0x00])  # 8192 x 8192: far more segments than marked
    assert tiling(bytes(data)) is None
    data[tiles.sof + 5:tiles.sof + 9] = bytes([0, 0, 0, 208])  # height 0 (a DNL frame)
    assert tiling(bytes(data)) is None


def test_a_damaged_part_still_fails_in_the_decoder_not_silently_here():
    data = bytearray(_jpeg(640, 360, subsampling="4:2:0", restart_marker_blocks=8))
    sos = data.find(b"\xff\xda")
    data[sos + 5] = 99  # the scan names a component the frame does not have
    tiles = tiling(bytes(data))
    assert tiles is not None  # not this module's business: the part keeps the header as it is
    p = part(bytes(data), tiles, (200, 100, 400, 200))
    assert p.width < 640
    with pytest.raises(OSError), Image.open(io.BytesIO(p.data)) as im:
        im.load()

"""posebench.prepare.jpeg_frames: frames are written with restart markers that tile every MCU row."""
import io

import numpy as np
import pytest
from PIL import Image

from posebench.prepare.jpeg_frames import restart_options, save_frame


def _restart_interval(data: bytes) -> int:
    """The DRI value, read with nothing but the marker layout (T.81 B.2.4.4: FFDD, length 4, Ri)."""
    at = data.index(b"\xff\xdd")
    assert data[at + 2:at + 4] == b"\x00\x04"
    return int.from_bytes(data[at + 4:at + 6], "big")


@pytest.mark.parametrize("width, interval", [
    (1000, 3),     # Human3.6M: 63 MCUs a row = 21 x 3 (7 and 9 are further from 4)
    (2048, 4),     # MPI-INF-3DHP: 128 = 32 x 4
    (768, 4),      # prepared MPI-INF-3DHP frames: 48 = 12 x 4
    (1920, 4),     # 120 = 30 x 4
    (240, 3),      # 15 MCUs: 3 and 5 are equally near 4, the finer wins
    (16 * 35, 5),  # 35 = 7 x 5
])
def test_the_interval_divides_the_row_near_4_mcus(width, interval):
    options = restart_options(width)
    cols = -(-width // 16)
    k = options["restart_marker_blocks"]
    assert options["subsampling"] == "4:2:0" and cols % k == 0 and 3 <= k <= 16 and k == interval
    assert abs(k - 4) == min(abs(d - 4) for d in range(3, 17) if cols % d == 0)


@pytest.mark.parametrize("width", [16 * 61, 16 * 2, 16 * 34, 16 * 53 - 5])
def test_a_row_without_a_divisor_from_3_to_16_gets_one_marker_a_row(width):
    assert restart_options(width) == {"subsampling": "4:2:0", "restart_marker_rows": 1}


@pytest.mark.parametrize("width, height", [(1000, 1002), (976, 64), (48, 40)])
def test_a_written_frame_is_tiled_and_decodes_as_the_image(tmp_path, width, height):
    rng = np.random.default_rng(width)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    path = tmp_path / "f.jpg"
    save_frame(image, path, 90)
    data = path.read_bytes()
    cols = -(-width // 16)
    ri = _restart_interval(data)
    assert cols % ri == 0 or ri == cols
    b = np.frombuffer(data, np.uint8)
    ff = np.flatnonzero(b[:-1] == 0xFF)
    rst = ff[(b[ff + 1] >= 0xD0) & (b[ff + 1] <= 0xD7)]
    assert len(rst) == cols * -(-height // 16) // ri - 1  # one marker between consecutive segments
    plain = io.BytesIO()
    image.save(plain, format="JPEG", quality=90, subsampling="4:2:0")
    with Image.open(path) as a, Image.open(plain) as b_:
        assert np.array_equal(np.asarray(a), np.asarray(b_))  # markers change the bytes, not the pixels

"""margipose._jpeg_numba: the compiled marker scan and part assembly give what jpeg_parts' NumPy code gives
(the files' pixels are checked on both paths in test_mp_jpeg_parts.py)."""
import io

import numpy as np
import pytest
from PIL import Image

from margipose import jpeg_parts
from margipose.jpeg_parts import part, tiling

pytest.importorskip("margipose._jpeg_numba", reason="numba (the fast extra) is not installed")


def _jpeg(width, height, seed=0, **options) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90, **options)
    return buf.getvalue()


def _both_paths(data: bytes, boxes, monkeypatch) -> tuple:
    """(tiling, parts) on the compiled path and on NumPy's (the module's state restored after the test)."""
    kernel = jpeg_parts._compiled()
    out = []
    for compiled in (True, False):
        monkeypatch.setattr(jpeg_parts, "_kernel", kernel if compiled else None)
        monkeypatch.setattr(jpeg_parts, "_unavailable", not compiled)
        tiles = tiling(data)
        out.append((tiles, [part(data, tiles, box) for box in boxes] if tiles is not None else None))
    return tuple(out)


def test_compiled_and_numpy_paths_agree_on_damaged_files(monkeypatch):
    """Bytes overwritten anywhere after the header (markers faked, stuffing undone, fill added) or cut off: the
    compiled path refuses the same files and gives the same segments and parts as NumPy's."""
    clean = _jpeg(336, 208, seed=2, subsampling="4:2:0", restart_marker_blocks=3)
    scan = jpeg_parts._header(clean)[3]
    rng = np.random.default_rng(11)
    boxes = [(40, 30, 200, 150), (0, 0, 100, 208), (300, 190, 336, 208)]
    refused = kept = 0
    for trial in range(300):
        data = bytearray(clean)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(scan, len(data)))
            data[at] = int(rng.choice([0xFF, 0x00, 0xD0 + int(rng.integers(0, 10)), int(rng.integers(0, 256))]))
        if trial % 10 == 0:
            data = data[:int(rng.integers(scan, len(data)))]
        (ta, pa), (tb, pb) = _both_paths(bytes(data), boxes, monkeypatch)
        assert (ta is None) == (tb is None), trial
        if ta is None:
            refused += 1
            continue
        kept += 1
        assert ta._replace(starts=None, ends=None) == tb._replace(starts=None, ends=None)
        assert np.array_equal(ta.starts, tb.starts) and np.array_equal(ta.ends, tb.ends)
        assert pa == pb, trial
    assert refused > 30 and kept > 30, (refused, kept)


def test_switched_off_by_the_same_environment_as_the_pixel_kernels(monkeypatch):
    from margipose import kernels

    for value, on in (("0", False), ("no", False), ("1", True), ("", True)):
        monkeypatch.setattr(jpeg_parts, "_kernel", None)
        monkeypatch.setattr(jpeg_parts, "_unavailable", False)
        monkeypatch.setenv(kernels.ENABLE_ENV, value)
        assert (jpeg_parts._compiled() is not None) == on, value

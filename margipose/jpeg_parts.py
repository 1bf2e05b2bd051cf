"""Decode only the part of a JPEG a crop reads, when the file has restart markers that tile it.

A baseline JPEG is one Huffman-coded stream: to reach a pixel a decoder must entropy-decode every block
before it, so a crop of a 2048x2048 frame pays for most of the frame (libjpeg's ``jpeg_skip_scanlines`` and
``jpeg_crop_scanline`` still entropy-decode what they skip). A restart marker (RSTn, ITU T.81 B.2.1 and F.2.1.3)
resets the DC predictors and byte-aligns the stream, so the bytes between two markers decode alone. When the
restart interval divides an MCU row (or is a whole number of rows), the segments tile the frame, and the
segments a crop needs, re-marked RST0, RST1, ... in order behind the frame's own tables with the frame size
changed to theirs, form a valid JPEG of just that part: its blocks decode to the same coefficients, so its
pixels equal the whole frame's, except within one MCU of its edges, where chroma upsampling would see the
part's edge instead of the neighbouring samples. The part asked for is therefore widened by
one MCU each side (clipped to the frame); inside that margin the part's pixels are the frame's, bit for bit.

Files without a usable interval (no DRI, progressive, arithmetic, several scans, an interval that straddles
rows, markers out of sequence, a stream without EOI) give None: the caller decodes them whole, as before, and
a damaged file fails there with the decoder's own error. ``posebench prepare`` writes its frames with such
an interval (posebench.prepare.jpeg_frames). Nothing here decodes: the output is bytes for Pillow. With numba
(the fast extra) the marker scan and the part's assembly run compiled (margipose._jpeg_numba), with the same
results; on a Human3.6M frame (1,323 segments) 80-90 against 100-130 us for the tiling, 31 against 41-60 for
a part.
"""
from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

import numpy as np

from margipose import kernels

_SOF_SEQUENTIAL = (0xC0, 0xC1)  # baseline and extended sequential, Huffman-coded
_SOF_OTHER = frozenset({0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_EOI, _SOS, _DRI, _RST0 = 0xD9, 0xDA, 0xDD, 0xD0

_kernel: ModuleType | None = None
_unavailable = False


def _compiled() -> ModuleType | None:
    """margipose._jpeg_numba (imported on first call), or None: the NumPy path (margipose.kernels' switch)."""
    global _kernel, _unavailable
    if _kernel is None and not _unavailable:
        _kernel = kernels.load("_jpeg_numba")
        _unavailable = _kernel is None
    return _kernel


class Tiling(NamedTuple):
    """How a JPEG's restart segments tile its frame."""

    width: int            # frame, px
    height: int
    sof: int              # offset of the SOF marker (its height and width are at sof + 5 .. sof + 9)
    scan: int             # offset of the first entropy-coded byte
    mcu: tuple[int, int]  # MCU width, height in px
    seg: tuple[int, int]  # a segment's width in MCUs and height in MCU rows
    per_row: int          # segments across the frame
    components: int       # colour components (1 grey, 3 YCbCr, 4 CMYK / YCCK)
    starts: np.ndarray    # (n,) first byte of each segment
    ends: np.ndarray      # (n,) one past its last byte (where its RST or the EOI marker starts)


def tiling(data: bytes) -> Tiling | None:
    """The restart tiling of a JPEG held in ``data``, or None when it has none usable (see the module)."""
    head = _header(data)
    if head is None:
        return None
    width, height, sof, scan, (mw, mh), interval, components = head
    cols, rows = -(-width // mw), -(-height // mh)
    if cols % interval == 0:
        seg = (interval, 1)
    elif interval % cols == 0:
        seg = (cols, interval // cols)
    else:
        return None
    per_row = cols // seg[0]
    count = per_row * -(-rows // seg[1])
    if 2 * count > len(data) - scan:
        return None  # more segments than the entropy-coded bytes could mark (a header that lies)
    b = np.frombuffer(data, np.uint8)
    kernel = _compiled()
    if kernel is not None:
        starts, ends = np.empty(count, np.int64), np.empty(count, np.int64)
        if not kernel.segments(b, scan, starts, ends):
            return None
    else:
        ff = np.flatnonzero(b[scan:-1] == 0xFF) + scan
        kind = b[ff + 1]
        is_marker = (kind != 0) & (kind != 0xFF)  # FF00 is a stuffed byte; FFFF, fill before a marker
        markers, kind = ff[is_marker], kind[is_marker]
        rst = (kind & 0xF8) == _RST0
        first_other = int(np.argmin(rst)) if not rst.all() else len(rst)
        if first_other != count - 1 or first_other == len(kind) or kind[first_other] != _EOI:
            return None  # a marker count that does not fit the frame, another scan, or no EOI (truncated)
        restarts = markers[:first_other]
        if not np.array_equal(kind[:first_other] - _RST0, np.arange(first_other) % 8):
            return None
        starts = np.concatenate([[scan], restarts + 2])
        ends = np.concatenate([restarts, markers[first_other:first_other + 1]])
    return Tiling(width, height, sof, scan, (mw, mh), seg, per_row, components, starts, ends)


def _header(data: bytes) -> tuple | None:
    """(width, height, SOF offset, scan offset, MCU size, restart interval, components) of a single-scan
    sequential Huffman JPEG with a restart interval; None otherwise."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    pos, frame, interval = 2, None, 0
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or (marker & 0xF8) == _RST0 or marker == _EOI:
            return None  # no parameters-free marker belongs before the scan
        length = (data[pos + 2] << 8) | data[pos + 3]
        end = pos + 2 + length
        if length < 2 or end > n:
            return None
        body = data[pos + 4:end]
        if marker in _SOF_SEQUENTIAL:
            if frame is not None or len(body) < 6 or body[0] != 8:
                return None
            height, width, comps = (body[1] << 8) | body[2], (body[3] << 8) | body[4], body[5]
            if not (height and width and 1 <= comps <= 4 and len(body) == 6 + 3 * comps):
                return None  # height 0 (DNL) is not supported
            factors = [(body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15) for i in range(comps)]
            if any(not (1 <= h <= 4 and 1 <= v <= 4) for h, v in factors):
                return None
            # one component: its scan is not interleaved and an MCU is one 8x8 block (T.81 A.2.2)
            mcu = (8, 8) if comps == 1 else (8 * max(h for h, _ in factors), 8 * max(v for _, v in factors))
            frame = (width, height, pos, mcu, comps)
        elif marker in _SOF_OTHER:
            return None
        elif marker == _DRI:
            if length != 4:
                return None
            interval = (body[0] << 8) | body[1]
        elif marker == _SOS:
            if frame is None or not interval or not body or body[0] != frame[4]:
                return None  # a scan before the frame, no restarts, or not every component in one scan
            width, height, sof, mcu, comps = frame
            return width, height, sof, end, mcu, interval, comps
        pos = end
    return None


class Part(NamedTuple):
    """A JPEG of part of a frame: its bytes and its top-left corner in frame pixels."""

    data: bytes
    x: int
    y: int
    width: int
    height: int


def part(data: bytes, tiles: Tiling, box: tuple[int, int, int, int]) -> Part:
    """The smallest tiled part of the frame holding ``box`` (x0, y0, x1, y1 frame pixels, end exclusive) with
    one MCU to spare each side, clipped to the frame, as a JPEG whose pixels inside that margin equal the
    frame's. A box that needs the whole frame, or an empty box, gives the file unchanged."""
    (mw, mh), (sw, sh) = tiles.mcu, tiles.seg
    seg_w, seg_h = sw * mw, sh * mh
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 <= x0 or y1 <= y0:  # nothing asked: the frame, as a caller without a box would decode it
        x0, y0, x1, y1 = 0, 0, tiles.width, tiles.height
    x0, y0 = max(0, x0 - mw), max(0, y0 - mh)
    x1, y1 = min(tiles.width, x1 + mw), min(tiles.height, y1 + mh)
    j0, j1 = x0 // seg_w, -(-x1 // seg_w)
    r0, r1 = y0 // seg_h, -(-y1 // seg_h)
    left, top = j0 * seg_w, r0 * seg_h
    width, height = min(tiles.width, j1 * seg_w) - left, min(tiles.height, r1 * seg_h) - top
    if (width, height) == (tiles.width, tiles.height):
        return Part(data, 0, 0, width, height)
    kernel = _compiled()
    if kernel is not None:
        out = kernel.assemble(np.frombuffer(data, np.uint8), tiles.scan, tiles.sof, tiles.starts, tiles.ends,
                              tiles.per_row, (r0, r1), (j0, j1), width, height)
        return Part(out.tobytes(), left, top, width, height)
    first = np.arange(r0, r1) * tiles.per_row + j0  # each row's first and last segment
    last = first + (j1 - j0 - 1)
    lo, hi = tiles.starts[first], tiles.ends[last]
    view = memoryview(data)
    pieces = [view[:tiles.scan]]
    for a, b in zip(lo.tolist(), hi.tolist()):
        pieces += (view[a:b], b"\xff\xd0")
    pieces[-1] = b"\xff\xd9"
    out = bytearray().join(pieces)
    out[tiles.sof + 5:tiles.sof + 9] = bytes([height >> 8, height & 255, width >> 8, width & 255])
    # every RST in the part, in stream order: the rows' inner ones where they moved to, then the one after each row
    shift = np.cumsum(np.concatenate([[tiles.scan], hi - lo + 2]))[:-1] - lo  # out offset - in offset, per row
    inner = tiles.ends[first[:, None] + np.arange(j1 - j0 - 1)] + shift[:, None]
    after = (hi + shift)[:, None]
    where = np.concatenate([inner, after], axis=1).ravel()[:-1]
    np.frombuffer(out, np.uint8)[where + 1] = _RST0 + np.arange(len(where)) % 8
    return Part(bytes(out), left, top, width, height)

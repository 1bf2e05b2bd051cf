"""Compiled crop warp and colour jitter (numba), bit for bit Pillow's: the fast path behind ``margipose.pixels``.

Imported only through ``margipose.pixels`` (numba installed, not disabled). Both kernels repeat Pillow 13's C
arithmetic operation for operation (no fused multiply-adds: numba's default float semantics), so their
output equals Pillow's exactly (tests/margipose/test_mp_pixels.py):
* ``warp``: ``Image.transform(AFFINE, BILINEAR)`` (libImaging/Geometry.c): the crop pixel centre (x + .5,
  y + .5) maps to source (xin, yin) in float64; outside [0, w) x [0, h) it is 0 (black); inside, bilinear
  between the four neighbours of (xin - .5, yin - .5), clamped to the edge, in float64, truncated to uint8.
  Per crop row: one vectorised pass for the four source offsets and weights, four gathers of 4-byte RGBX
  pixels, one vectorised interpolation of the three channels. A map without rotation computes each crop
  column's source columns and weight once, and each row's source rows once.
* ``jitter``: ``ImageEnhance`` Brightness, Contrast, Color (``Image.blend``: float32 lerp to the degenerate
  image, clipped, truncated; greyscale L = (19595 R + 38470 G + 7471 B + 2^15) >> 16, the contrast mean
  rounded half up), then the RGB -> HSV -> RGB round trip of Convert.c with the hue shifted, each step to
  uint8 as Pillow's images are (``adjust``); ``jitter`` then makes the (3,H,W) float32 tensor, x 1/255.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_F32 = np.float32


@njit(cache=True, boundscheck=False)
def warp(src: np.ndarray, a: np.ndarray, out: np.ndarray, ox: int, oy: int, fw_: int,
         fh_: int) -> None:  # pragma: no cover - compiled
    """(h, w) uint32 RGBX source holding the (fw_, fh_) frame's pixels from (ox, oy) on, (6,) crop->frame map,
    (3, n, m) uint8 planes out. Coordinates, bounds and clamping are the frame's (so a part gives the frame's
    crop wherever it holds the pixels read); reads are also clamped to the source, which keeps them in memory."""
    h, w = src.shape
    s = src.ravel()
    m = out.shape[2]
    a0, a1, a2, a3, a4, a5 = a[0], a[1], a[2], a[3], a[4], a[5]
    if a1 == 0.0 and a3 == 0.0:
        _warp_axes(s, w, h, a0, a2, a4, a5, out, ox, oy, fw_, fh_)
        return
    fw, fh, wm, hm = float(fw_), float(fh_), fw_ - 1, fh_ - 1
    sw, sh = w - 1, h - 1
    i00, i01, i10, i11 = np.empty(m, np.uint32), np.empty(m, np.uint32), np.empty(m, np.uint32), np.empty(m, np.uint32)
    p00, p01, p10, p11, dxa, dya, inside = _scratch(m)
    for y in range(out.shape[1]):
        yc = y + 0.5
        for x in range(m):
            xc = x + 0.5
            xin = a0 * xc + a1 * yc + a2
            yin = a3 * xc + a4 * yc + a5
            inside[x] = (xin >= 0.0) & (xin < fw) & (yin >= 0.0) & (yin < fh)
            xs, ys = xin - 0.5, yin - 0.5
            xf, yf = np.floor(xs), np.floor(ys)
            dxa[x], dya[x] = xs - xf, ys - yf
            xi, yi = np.int64(xf), np.int64(yf)
            x0 = min(max(min(max(xi, 0), wm) - ox, 0), sw)
            x1 = min(max(min(max(xi + 1, 0), wm) - ox, 0), sw)
            y0 = min(max(min(max(yi, 0), hm) - oy, 0), sh)
            y1 = min(max(min(max(yi + 1, 0), hm) - oy, 0), sh)
            i00[x], i01[x] = np.uint32(y0 * w + x0), np.uint32(y0 * w + x1)
            i10[x], i11[x] = np.uint32(y1 * w + x0), np.uint32(y1 * w + x1)
        _gather(s, i00, p00)
        _gather(s, i01, p01)
        _gather(s, i10, p10)
        _gather(s, i11, p11)
        _interpolate(p00, p01, p10, p11, dxa, dya, inside, out[0, y], out[1, y], out[2, y])


@njit(cache=True, boundscheck=False)
def _warp_axes(s: np.ndarray, w: int, h: int, a0: float, a2: float, a4: float, a5: float, out: np.ndarray, ox: int,
               oy: int, fw_: int, fh_: int) -> None:  # pragma: no cover - compiled
    """``warp`` for a map without rotation (a1 = a3 = 0, so a1 * y and a3 * x add a zero: the same sample positions
    bit for bit): a crop column's source columns and weight, and a crop row's source rows, are computed once."""
    m = out.shape[2]
    fw, fh, wm, hm = float(fw_), float(fh_), fw_ - 1, fh_ - 1
    sw, sh = w - 1, h - 1
    c0, c1 = np.empty(m, np.int64), np.empty(m, np.int64)
    p00, p01, p10, p11, dxa, dya, inside = _scratch(m)
    for x in range(m):
        xin = a0 * (x + 0.5) + a2
        inside[x] = (xin >= 0.0) & (xin < fw)
        xs = xin - 0.5
        xf = np.floor(xs)
        dxa[x] = xs - xf
        xi = np.int64(xf)
        c0[x] = min(max(min(max(xi, 0), wm) - ox, 0), sw)
        c1[x] = min(max(min(max(xi + 1, 0), wm) - ox, 0), sw)
    for y in range(out.shape[1]):
        r, g, b = out[0, y], out[1, y], out[2, y]
        yin = a4 * (y + 0.5) + a5
        if not ((yin >= 0.0) & (yin < fh)):
            r[:], g[:], b[:] = 0, 0, 0
            continue
        ys = yin - 0.5
        yf = np.floor(ys)
        dya[:] = ys - yf
        yi = np.int64(yf)
        row0 = s[min(max(min(max(yi, 0), hm) - oy, 0), sh) * w:]
        row1 = s[min(max(min(max(yi + 1, 0), hm) - oy, 0), sh) * w:]
        _gather(row0, c0, p00)
        _gather(row0, c1, p01)
        _gather(row1, c0, p10)
        _gather(row1, c1, p11)
        _interpolate(p00, p01, p10, p11, dxa, dya, inside, r, g, b)


@njit(cache=True, inline="always")
def _scratch(m: int) -> tuple:  # pragma: no cover - compiled
    """A crop row's four neighbours (uint32 RGBX), weights (float64) and inside flags."""
    return (np.empty(m, np.uint32), np.empty(m, np.uint32), np.empty(m, np.uint32), np.empty(m, np.uint32),
            np.empty(m, np.float64), np.empty(m, np.float64), np.empty(m, np.bool_))


@njit(cache=True, inline="always")
def _gather(src: np.ndarray, index: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    for x in range(out.size):  # a loop of its own, so the interpolation after it vectorises
        out[x] = src[index[x]]


@njit(cache=True, inline="always")
def _interpolate(p00: np.ndarray, p01: np.ndarray, p10: np.ndarray, p11: np.ndarray, dxa: np.ndarray,
                 dya: np.ndarray, inside: np.ndarray, r: np.ndarray, g: np.ndarray,
                 b: np.ndarray) -> None:  # pragma: no cover - compiled
    """One crop row: all three channels of a pixel together, each weight and neighbour read once; 0 outside."""
    for x in range(r.size):
        a00, a01, a10, a11 = p00[x], p01[x], p10[x], p11[x]
        dx, dy, keep = dxa[x], dya[x], inside[x]
        r[x] = _lerp(a00, a01, a10, a11, 0, dx, dy) if keep else np.uint8(0)
        g[x] = _lerp(a00, a01, a10, a11, 8, dx, dy) if keep else np.uint8(0)
        b[x] = _lerp(a00, a01, a10, a11, 16, dx, dy) if keep else np.uint8(0)


@njit(cache=True, inline="always")
def _lerp(a00: np.uint32, a01: np.uint32, a10: np.uint32, a11: np.uint32, shift: int, dx: float,
          dy: float) -> np.uint8:  # pragma: no cover - compiled
    """Pillow's BILINEAR of one channel (the byte at ``shift``) in float64, truncated."""
    sh, byte = np.uint32(shift), np.uint32(255)
    q00, q01 = float((a00 >> sh) & byte), float((a01 >> sh) & byte)
    q10, q11 = float((a10 >> sh) & byte), float((a11 >> sh) & byte)
    v1 = q00 + (q01 - q00) * dx
    v2 = q10 + (q11 - q10) * dx
    return np.uint8(np.int32(v1 + (v2 - v1) * dy))


@njit(cache=True, inline="always")
def _blend(base: np.int32, value: np.int32, alpha: np.float32) -> np.uint8:  # pragma: no cover - compiled
    """Image.blend's float32 lerp, clipped to [0, 255] and truncated."""
    t = _F32(base) + alpha * (_F32(value) - _F32(base))
    return np.uint8(0) if t <= _F32(0.0) else (np.uint8(255) if t >= _F32(255.0) else np.uint8(np.int32(t)))


@njit(cache=True, inline="always")
def _grey(r: np.uint8, g: np.uint8, b: np.uint8) -> np.int32:  # pragma: no cover - compiled
    return np.int32((np.int32(r) * 19595 + np.int32(g) * 38470 + np.int32(b) * 7471 + 0x8000) >> 16)


@njit(cache=True, inline="always")
def _clip8f(v: np.float32) -> np.uint8:  # pragma: no cover - compiled
    return np.uint8(min(max(v, _F32(0.0)), _F32(255.0)))


@njit(cache=True, inline="always")
def _roundf(v: np.float32) -> np.float32:  # pragma: no cover - compiled
    """C's round() for v >= 0 in float32."""
    r = np.floor(v)
    return r + (_F32(1.0) if v - r >= _F32(0.5) else _F32(0.0))


@njit(cache=True, boundscheck=False)
def _hue(r: np.ndarray, g: np.ndarray, b: np.ndarray, shift: int) -> None:  # pragma: no cover - compiled
    """Convert.c's rgb2hsv, hue + shift mod 256, hsv2rgb, in place on flat uint8 channels (float32 where the C
    has float, float64 where it has double, except hsv2rgb's last three products, float32 with the same bytes;
    branches written as selects so the loop vectorises)."""
    for k in range(r.size):
        ri, gi, bi = np.int32(r[k]), np.int32(g[k]), np.int32(b[k])
        maxc = max(ri, max(gi, bi))
        minc = min(ri, min(gi, bi))
        grey = maxc == minc
        cr = _F32(max(maxc - minc, 1))
        sat = cr / _F32(max(maxc, 1))
        rc = _F32(maxc - ri) / cr
        gc = _F32(maxc - gi) / cr
        bc = _F32(maxc - bi) / cr
        hf = bc - gc if ri == maxc else (_F32(2.0 + float(rc) - float(bc)) if gi == maxc
                                         else _F32(4.0 + float(gc) - float(rc)))
        x = float(hf) * (1.0 / 6.0) + 1.0  # = / 6.0 in every outcome (all 2^24 colours: test)
        hf = _F32(x - 1.0 if x >= 1.0 else x)  # fmod(x, 1.0) for x in [0, 2), exactly
        uh = min(max(np.int32(float(hf) * 255.0), 0), 255)
        us = min(max(np.int32(float(sat) * 255.0), 0), 255)
        h8 = (uh + shift) & 255  # mod 256, also for a negative shift
        fh = float(_F32(h8)) * (6.0 / 255.0)  # i, f as from * 6.0 / 255.0 for all 256 h8 (test)
        i = np.int32(np.floor(fh))
        f = _F32(fh - float(_F32(i)))
        fs = _F32(float(_F32(us)) * (1.0 / 255.0))  # = / 255.0 in float32 for all 256 us (test)
        # C's double products here, done in float32 (twice the lanes): the same bytes for every h, s, v (test)
        fv, one = _F32(maxc), _F32(1.0)
        p = _clip8f(_roundf(fv * (one - fs)))
        q = _clip8f(_roundf(fv * (one - fs * f)))
        t = _clip8f(_roundf(fv * (one - fs * (one - f))))
        v = np.uint8(maxc)
        j = i if i < 6 else i - 6  # i % 6 for i in [0, 6]
        nr = v if (j == 0) | (j == 5) else (q if j == 1 else (t if j == 4 else p))
        ng = t if j == 0 else (v if (j == 1) | (j == 2) else (q if j == 3 else p))
        nb = p if (j == 0) | (j == 1) else (t if j == 2 else (v if (j == 3) | (j == 4) else q))
        keep = grey | (us == 0)  # s = 0: the way back gives (v, v, v)
        r[k] = v if keep else nr
        g[k] = v if keep else ng
        b[k] = v if keep else nb


@njit(cache=True, boundscheck=False)
def adjust(planes: np.ndarray, brightness: float, contrast: float, saturation: float, hue_on: bool,
           hue: int) -> None:  # pragma: no cover - compiled
    """The colour jitter in place on (3, n, m) uint8 planes, each step as Pillow (factor 1.0 / hue_on False: step
    skipped)."""
    r, g, b = planes[0].ravel(), planes[1].ravel(), planes[2].ravel()
    n = r.size
    if brightness != 1.0:
        a = _F32(brightness)
        for k in range(n):
            r[k], g[k], b[k] = _blend(0, r[k], a), _blend(0, g[k], a), _blend(0, b[k], a)
    if contrast != 1.0:
        total = 0
        for k in range(n):
            total += _grey(r[k], g[k], b[k])
        mean = np.int32(total / n + 0.5)
        a = _F32(contrast)
        for k in range(n):
            r[k], g[k], b[k] = _blend(mean, r[k], a), _blend(mean, g[k], a), _blend(mean, b[k], a)
    if saturation != 1.0:
        a = _F32(saturation)
        for k in range(n):
            grey = _grey(r[k], g[k], b[k])
            r[k], g[k], b[k] = _blend(grey, r[k], a), _blend(grey, g[k], a), _blend(grey, b[k], a)
    if hue_on:
        _hue(r, g, b, hue)


@njit(cache=True, boundscheck=False)
def jitter(planes: np.ndarray, brightness: float, contrast: float, saturation: float, hue_on: bool, hue: int,
           out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``adjust`` in place on (3, n, m) uint8 planes, then out (3, n, m) float32 = planes x float32(1/255)."""
    adjust(planes, brightness, contrast, saturation, hue_on, hue)
    r, g, b = planes[0].ravel(), planes[1].ravel(), planes[2].ravel()
    n = r.size
    scale = _F32(1.0 / 255.0)
    o = out.reshape(3, n)
    for k in range(n):
        o[0, k] = _F32(r[k]) * scale
    for k in range(n):
        o[1, k] = _F32(g[k]) * scale
    for k in range(n):
        o[2, k] = _F32(b[k]) * scale

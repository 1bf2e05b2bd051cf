"""Compiled bilinear affine warp (numba): the fast path behind ``margipose.images.warp_crop``.

Bit for bit Pillow's ``Image.transform(..., AFFINE, resample=BILINEAR)`` on 8-bit images (libImaging
Geometry.c: affine_transform + bilinear_filter8 / bilinear_filter32RGB, fill 0): the source position of
output pixel (x, y) is ``A (x + 0.5, y + 0.5, 1)`` in float64; positions outside [0, w) x [0, h) give 0;
otherwise, shifted by -0.5, the four neighbours (columns clamped, the lower row replaced by the upper one
past the last row) are blended horizontally then vertically and the result truncated to uint8. Pillow runs
this through a per-pixel function pointer (~1.6 ms for a 256x256 RGB crop); compiled inline it is ~10x less.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, boundscheck=False)
def warp_bilinear(src: np.ndarray, inv: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (H, W, C) uint8 from ``src`` (h, w, C) uint8 through the (2, 3) crop->source map ``inv``."""
    h, w, c = src.shape
    oh, ow = out.shape[0], out.shape[1]
    a0, a1, a2 = inv[0, 0], inv[0, 1], inv[0, 2]
    a3, a4, a5 = inv[1, 0], inv[1, 1], inv[1, 2]
    for y in range(oh):
        yc = y + 0.5
        for x in range(ow):
            xc = x + 0.5
            xi = a0 * xc + a1 * yc + a2
            yi = a3 * xc + a4 * yc + a5
            if not (xi >= 0.0 and xi < w and yi >= 0.0 and yi < h):
                for b in range(c):
                    out[y, x, b] = 0
                continue
            xi -= 0.5
            yi -= 0.5
            ix = int(math.floor(xi))
            iy = int(math.floor(yi))
            dx = xi - ix
            dy = yi - iy
            x0 = 0 if ix < 0 else (ix if ix < w else w - 1)
            x1 = 0 if ix + 1 < 0 else (ix + 1 if ix + 1 < w else w - 1)
            y0 = 0 if iy < 0 else (iy if iy < h else h - 1)
            below = iy + 1 >= 0 and iy + 1 < h
            for b in range(c):
                p = np.int32(src[y0, x0, b])
                v1 = p + (np.int32(src[y0, x1, b]) - p) * dx
                if below:
                    q = np.int32(src[iy + 1, x0, b])
                    v2 = q + (np.int32(src[iy + 1, x1, b]) - q) * dx
                else:
                    v2 = v1
                out[y, x, b] = np.uint8(int(v1 + (v2 - v1) * dy))

"""Parsers for MPI-INF-3DHP camera files: training `camera.calibration` and test-set `*.calib`.

* ``camera.calibration`` ("Skeletool Camera Calibration File V1.0"): one block per camera with `name`,
  `sensor`, `size`, `animated`, `intrinsic` (4x4 row-major), `extrinsic` (4x4 world->camera, mm), `radial`.
* ``ts1-4cameras.calib`` / ``ts5-6cameras.calib`` ("tc camera calibration v0.3", tab separated):
  sensorSize (mm), focalLength (mm), pixelAspect (y/x), centerOffset (mm, right/down), distortion, pose.

Both parsers check every number they return (count, finiteness, sanity) and raise CalibrationError
naming the file and line, so a damaged file never yields a silently wrong camera.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posebench.errors import PosebenchError

SKELETOOL_HEADER = "Skeletool Camera Calibration File"
TC_HEADER = "tc camera calibration"


# Every camera block must be complete: a file cut short loses the last keys and is refused, never half-read.
_TC_KEYS = ("sensorSize", "focalLength", "pixelAspect", "centerOffset", "distortion", "origin", "up", "right")


class CalibrationError(PosebenchError):
    """A camera calibration file is missing, malformed or physically implausible."""


@dataclass(frozen=True)
class SkeletoolCamera:
    """One camera of a training-set camera.calibration file."""

    index: int
    size: tuple[int, int]  # width, height in pixels
    intrinsic: np.ndarray  # (4, 4)
    extrinsic: np.ndarray  # (4, 4) world -> camera, translation in mm

    @property
    def intrinsics(self) -> tuple[float, float, float, float]:
        """fx, fy, cx, cy in the calibration's pixels."""
        k = self.intrinsic
        return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])


@dataclass(frozen=True)
class TcCamera:
    """One camera of a "tc camera calibration v0.3" file (the test-set .calib files)."""

    index: int
    name: str
    sensor_size: tuple[float, float]  # mm (width, height)
    focal_length: float  # mm
    pixel_aspect: float  # y / x
    center_offset: tuple[float, float]  # mm, positive = right / down
    distortion: tuple[float, ...]

    def intrinsics(self, width: int, height: int) -> tuple[float, float, float, float]:
        """fx, fy, cx, cy in pixels of a ``width`` x ``height`` image of this sensor.

        fx = focal / sensor width * width; fy = fx * pixelAspect; the centre is the image centre moved by
        centerOffset (scaled per axis by sensor size). TS1-4 gives (1500.17, 1500.83, 1017.39, 1043.03).
        """
        sw, sh = self.sensor_size
        fx = self.focal_length / sw * width
        cx = width / 2 + self.center_offset[0] / sw * width
        cy = height / 2 + self.center_offset[1] / sh * height
        return fx, fx * self.pixel_aspect, cx, cy


def _read_lines(path: Path, header: str) -> list[str]:
    if not path.is_file():
        raise CalibrationError(f"{path}: no such calibration file")
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CalibrationError(f"{path}: not a readable text calibration file ({type(e).__name__})") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or not lines[0].strip().lower().startswith(header.lower()):
        first = lines[0].strip()[:60] if lines else ""
        raise CalibrationError(f"{path}: line 1 is {first!r}, expected the header {header!r}")
    return lines


def _numbers(tokens: list[str], n: int, path: Path, lineno: int, key: str) -> list[float]:
    if len(tokens) != n:
        raise CalibrationError(f"{path}:{lineno}: {key} has {len(tokens)} values, expected {n}")
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise CalibrationError(f"{path}:{lineno}: {key} holds a non-number ({' '.join(tokens)[:60]!r})") from None
    if not all(math.isfinite(v) for v in values):
        raise CalibrationError(f"{path}:{lineno}: {key} holds a non-finite value")
    return values


def read_camera_calibration(path: str | os.PathLike) -> dict[int, SkeletoolCamera]:
    """Parse a training-set ``camera.calibration``: camera index -> SkeletoolCamera."""
    path = Path(path)
    lines = _read_lines(path, SKELETOOL_HEADER)
    cameras: dict[int, SkeletoolCamera] = {}
    current: dict[str, object] | None = None
    start = 0

    def finish() -> None:
        if current is None:
            return
        missing = [k for k in ("size", "intrinsic", "extrinsic") if k not in current]
        if missing:
            raise CalibrationError(f"{path}:{start}: camera {current['index']} lacks {', '.join(missing)}")
        cameras[int(current["index"])] = _skeletool_camera(current, path, start)  # type: ignore[arg-type]

    for lineno, line in enumerate(lines[1:], start=2):
        tokens = line.split()
        if not tokens:
            continue
        key, rest = tokens[0], tokens[1:]
        if key == "name":
            finish()
            idx = _numbers(rest, 1, path, lineno, "name")[0]
            if idx != int(idx) or idx < 0:
                raise CalibrationError(f"{path}:{lineno}: camera name {rest[0]!r} is not a camera index")
            if int(idx) in cameras:
                raise CalibrationError(f"{path}:{lineno}: camera {int(idx)} appears twice")
            current, start = {"index": int(idx)}, lineno
        elif current is None:
            raise CalibrationError(f"{path}:{lineno}: {key!r} before the first 'name' line")
        elif key in current:
            raise CalibrationError(f"{path}:{lineno}: {key!r} appears twice in camera {current['index']} "
                                   f"(a 'name' line missing?)")
        elif key == "size":
            w, h = _numbers(rest, 2, path, lineno, "size")
            if w <= 0 or h <= 0 or w != int(w) or h != int(h):
                raise CalibrationError(f"{path}:{lineno}: image size {w} x {h} is not a positive integer size")
            current["size"] = (int(w), int(h))
        elif key in ("intrinsic", "extrinsic"):
            current[key] = np.array(_numbers(rest, 16, path, lineno, key)).reshape(4, 4)
        elif key in ("sensor", "animated", "radial"):
            current[key] = rest  # not needed: intrinsics come in pixels, distortion is not modelled (radial 0)
        else:
            raise CalibrationError(f"{path}:{lineno}: unknown key {key!r}")
    finish()
    if not cameras:
        raise CalibrationError(f"{path}: no cameras (truncated?)")
    return cameras


def _skeletool_camera(c: dict[str, object], path: Path, lineno: int) -> SkeletoolCamera:
    k, e = np.asarray(c["intrinsic"]), np.asarray(c["extrinsic"])
    idx = c["index"]
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise CalibrationError(f"{path}:{lineno}: camera {idx} has non-positive focal lengths {k[0, 0]}, {k[1, 1]}")
    if not np.allclose(k[2], [0, 0, 1, 0]) or not np.allclose(k[3], [0, 0, 0, 1]) or k[1, 0] != 0:
        raise CalibrationError(f"{path}:{lineno}: camera {idx} intrinsic matrix is not [fx s cx 0; 0 fy cy 0; 0 0 1 0; 0 0 0 1]")
    r = e[:3, :3]
    if not np.allclose(e[3], [0, 0, 0, 1]) or not np.allclose(r @ r.T, np.eye(3), atol=1e-3):
        raise CalibrationError(f"{path}:{lineno}: camera {idx} extrinsic is not a rigid transform (rotation not orthonormal)")
    return SkeletoolCamera(int(idx), c["size"], k, e)  # type: ignore[arg-type]


def read_tc_calibration(path: str | os.PathLike) -> dict[int, TcCamera]:
    """Parse a "tc camera calibration v0.3" file: camera index -> TcCamera (first frame's values)."""
    path = Path(path)
    lines = _read_lines(path, TC_HEADER)
    cams: list[tuple[int, dict]] = []
    current: dict | None = None
    seen_frame = False
    for lineno, raw in enumerate(lines[1:], start=2):
        tokens = raw.split("#", 1)[0].split()
        if not tokens:
            continue
        key, rest = tokens[0], tokens[1:]
        if key == "camera":
            if not rest:
                raise CalibrationError(f"{path}:{lineno}: 'camera' line without an index")
            idx = _numbers(rest[:1], 1, path, lineno, "camera")[0]
            current = {"index": int(idx), "name": " ".join(rest[1:]), "line": lineno}
            cams.append((lineno, current))
            seen_frame = False
        elif current is None:
            raise CalibrationError(f"{path}:{lineno}: {key!r} before the first 'camera' line")
        elif key == "frame":
            if seen_frame:  # animated calibrations: keep the first frame's values
                current = {"ignored": True}
            seen_frame = True
        elif key in current and key in _TC_KEYS:
            raise CalibrationError(f"{path}:{lineno}: {key!r} appears twice in camera {current.get('index')} "
                                   f"(a 'camera' line missing?)")
        elif key in ("sensorSize", "centerOffset"):
            current[key] = tuple(_numbers(rest, 2, path, lineno, key))
        elif key in ("focalLength", "pixelAspect"):
            current[key] = _numbers(rest, 1, path, lineno, key)[0]
        elif key == "distortion":
            current[key] = tuple(_numbers(rest, 5, path, lineno, key))
        elif key in ("origin", "up", "right"):
            current[key] = tuple(_numbers(rest, 3, path, lineno, key))
        # other keys (colorCorrection tables, distortionModel names) are not needed here
    out: dict[int, TcCamera] = {}
    for lineno, c in cams:
        missing = [k for k in _TC_KEYS if k not in c]
        if missing:
            raise CalibrationError(f"{path}:{lineno}: camera {c['index']} lacks {', '.join(missing)}")
        sw, sh = c["sensorSize"]
        if sw <= 0 or sh <= 0 or c["focalLength"] <= 0 or c["pixelAspect"] <= 0:
            raise CalibrationError(f"{path}:{lineno}: camera {c['index']} has a non-positive sensor size, focal length "
                                   f"or pixel aspect")
        if c["index"] in out:
            raise CalibrationError(f"{path}:{lineno}: camera {c['index']} appears twice")
        for k in ("up", "right"):
            if abs(np.linalg.norm(c[k]) - 1) > 1e-3:
                raise CalibrationError(f"{path}:{lineno}: camera {c['index']} {k} vector is not a unit vector")
        out[c["index"]] = TcCamera(c["index"], c["name"], (sw, sh), c["focalLength"], c["pixelAspect"],
                                   c["centerOffset"], c["distortion"])
    if not out:
        raise CalibrationError(f"{path}: no cameras (truncated?)")
    return out

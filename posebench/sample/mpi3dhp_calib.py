"""Look-alike MPI-INF-3DHP calibration files and rig conventions.

The test set's "tc camera calibration v0.3" files (TS1-4 studio, TS5-6 GoPro), the training set's Skeletool
`camera.calibration`, and the conventions both use: y-up world mm, OpenCV distortion order. Writer side only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TcCamera:
    """One camera of a "tc camera calibration v0.3" file: mm-based intrinsics, OpenCV distortion
    (k1, k2, p1, p2, k3), and its pose as origin/up/right in world mm."""

    name: str
    sensor: tuple[float, float]
    focal: float
    aspect: float  # pixel aspect, y / x
    offset: tuple[float, float]  # principal-point offset from the image centre, mm (right, down)
    distortion: tuple[float, float, float, float, float]
    resolution: tuple[int, int]  # the official image size (W, H)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    right: tuple[float, float, float] = (1.0, 0.0, 0.0)

    def intrinsics(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(fx, fy, cx, cy) in pixels of a (width, height) image of this camera."""
        fx = self.focal / self.sensor[0] * width
        cx = width / 2 + self.offset[0] / self.sensor[0] * width
        cy = height / 2 + self.offset[1] / self.sensor[1] * height
        return fx, fx * self.aspect, cx, cy


# Official test-set calibrations (test_util/camera_calibration/*.calib; values in mm, size independent).
TS1_4_CAMERA = TcCamera("cam_8", (10.0, 10.0), 7.32506, 1.00044, (-0.0322884, 0.0929296), (0.0,) * 5, (2048, 2048),
                        (3427.28, 1387.86, 309.42), (-0.208215, 0.976233, 0.06014), (0.000575281, 0.0616098, -0.9981))
TS5_6_CAMERA = TcCamera("GOPR0046_intrinsics.MP4", (10.0, 5.625), 8.770747185, 0.993236423, (-0.104908645, 0.104899704),
                        (-0.276859611, 0.131125256, -0.000360494, -0.001149441, -0.049318332), (1920, 1080),
                        (-2104.3074, 1038.6707, -4596.6367), (0.025272345, 0.995038509, 0.096227370),
                        (-0.939647257, -0.009210289, 0.342020929))
CALIB_DIR = "test_util/camera_calibration"
CALIB_FILES = {"ts1-4cameras.calib": (1, 2, 3, 4), "ts5-6cameras.calib": (5, 6)}


# --- Calibration text -------------------------------------------------------------------------
_OFFSET_NOTE = "# in mm (positive values move right and down)"


def _g(v: float) -> str:
    return f"{v:g}"


def tc_calibration_text(cam: TcCamera, gopro: bool) -> str:
    """A "tc camera calibration v0.3" file for one camera, in the studio (TS1-4) or GoPro (TS5-6) flavour
    of the official files (tab-separated; the GoPro file has colour tables and fixed-width numbers)."""
    lines = ["tc camera calibration v0.3", f"camera\t0\t{cam.name}"]
    if not gopro:
        lines += [
            "\tframe\t0",
            f"\t\tsensorSize\t{_g(cam.sensor[0])}\t{_g(cam.sensor[1])}\t# in mm",
            f"\t\tfocalLength\t{_g(cam.focal)}\t# in mm",
            f"\t\tpixelAspect\t{_g(cam.aspect)}",
            f"\t\tcenterOffset\t{_g(cam.offset[0])}\t{_g(cam.offset[1])}\t{_OFFSET_NOTE}",
            "\t\tdistortionModel\tOpenCV",
            "\t\tdistortion\t\t" + " ".join(f"{v:.1f}" if v == int(v) else _g(v) for v in cam.distortion),
            "\t\t\torigin\t" + "\t".join(_g(v) for v in cam.origin),
            "\t\t\tup\t" + "\t".join(_g(v) for v in cam.up),
            "\t\t\tright\t" + "\t".join(_g(v) for v in cam.right),
        ]
        return "\n".join(lines) + "\n"
    ramp = " ".join(str(i) for i in range(256))
    w = lambda v: f"{v:13.9f}"  # noqa: E731
    lines += [
        "\tcolorCorrection", f"\t\tred   {ramp}", f"\t\tgreen {ramp}", f"\t\tblue  {ramp}",
        "\tframe\t0",
        f"\t\tsensorSize\t\t{w(cam.sensor[0])}\t{w(cam.sensor[1])}\t# in mm",
        f"\t\tfocalLength\t\t{w(cam.focal)}\t\t\t\t\t# in mm",
        f"\t\tpixelAspect\t\t{w(cam.aspect)}\t\t\t\t\t# y / x",
        f"\t\tcenterOffset\t{w(cam.offset[0])}\t{w(cam.offset[1])}\t{_OFFSET_NOTE}",
        "\t\tdistortionModel\tOpenCV",
        "\t\tdistortion\t\t" + "".join(w(v) + "\t" for v in cam.distortion),
        "\t\t\torigin\t\t" + "\t".join(f"{v:13.4f}" for v in cam.origin),
        "\t\t\tup\t\t\t" + "\t".join(w(v) for v in cam.up),
        "\t\t\tright\t\t" + "\t".join(w(v) for v in cam.right),
    ]
    return "\n".join(lines) + "\n\n"


def skeletool_calibration_text(cams: list[dict]) -> str:
    """A training `camera.calibration` (Skeletool V1.0): 7 lines per camera, 4x4 row-major intrinsic and
    world->camera extrinsic (mm), single spaces, matrix lines ending with a space."""
    num = lambda v: f"{v:.7g}"  # noqa: E731
    out = ["Skeletool Camera Calibration File V1.0"]
    for i, cam in enumerate(cams):
        k = np.eye(4)
        k[0, 0], k[1, 1], k[0, 2], k[1, 2] = cam["fx"], cam["fy"], cam["cx"], cam["cy"]
        e = np.eye(4)
        e[:3, :3], e[:3, 3] = cam["R"], cam["t"]
        out += [f"{'name':<14}{i}", f"{'  sensor':<14}10 10", f"{'  size':<14}{cam['width']} {cam['height']}",
                f"{'  animated':<14}0", f"{'  intrinsic':<14}" + "".join(num(v) + " " for v in k.ravel()),
                f"{'  extrinsic':<14}" + "".join(num(v) + " " for v in e.ravel()), f"{'  radial':<14}0"]
    return "\n".join(out) + "\n"


# --- Rig conventions ------------------------------------------------------------------------------
ZUP_TO_YUP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # (x, y, z) z-up -> (x, z, -y) y-up


def cam_points(world_zup: np.ndarray, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera-space mm of z-up world points for a y-up-world extrinsic (R, t)."""
    return (world_zup @ ZUP_TO_YUP.T) @ np.asarray(rot).T + np.asarray(t)


def projection_distortion(opencv: tuple[float, ...]) -> np.ndarray | None:
    """OpenCV (k1, k2, p1, p2, k3) -> `geometry.project` order (k1, k2, k3, p1, p2); None when all zero."""
    k1, k2, p1, p2, k3 = opencv
    return None if not any(opencv) else np.array([k1, k2, k3, p1, p2])

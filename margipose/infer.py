"""Batched inference: crop each row from its ground-truth 2D box (1.5x the larger side), run the model,
and denormalise the NDC output into camera-space millimetres at a root depth.

The root depth is the ground truth where the protocol grants it; otherwise a fixed, plausible depth, and
the protocol's rescaling (920 mm knee-neck) fixes the scale afterwards (ARCHITECTURE.md "Decisions").
Ten-crop testing, as the reference (`--multicrop`): {no flip, flip} x box-centre offsets {0, (+-8, 0), (0, +-8)}
pixels of the (stored) original image; each crop is denormalised on its own (at the granted root depth, or
rescaled to the 920 mm knee-neck length on MPI-INF-3DHP, the reference's per-crop depth search) and the ten
skeletons are averaged. Remaining difference on MPI-INF-3DHP: posebench's protocol rescales the average once
more to 920 mm (the average of ten 920 mm skeletons is slightly shorter); the reference scores the average.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from posebench.align import knee_neck_rescale

from margipose import coords
from margipose.data import FLIP, open_rgb
from margipose.model import MargiPose
from margipose.pixels import planes_to_tensor, warp_planes

ASSUMED_DEPTH_MM = 4500.0  # a typical camera distance in the studio datasets
MULTICROP_OFFSETS = ((0, 0), (-8, 0), (0, -8), (8, 0), (0, 8))  # original-image pixels (reference)


def crop_views(multicrop: bool) -> list[tuple[bool, tuple[float, float]]]:
    """(flip, centre offset in original pixels) of each test crop: one, or the reference's ten."""
    if not multicrop:
        return [(False, (0.0, 0.0))]
    return [(flip, (float(dx), float(dy))) for flip in (False, True) for dx, dy in MULTICROP_OFFSETS]


class Predictor:
    """Runs a MargiPose model on image rows; ``predict`` returns (N,17,3) camera-space mm."""

    def __init__(self, model: MargiPose, device: str | torch.device | None = None, multicrop: bool = False,
                 batch_size: int = 32, knee_neck: float | None = None) -> None:
        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self.cuda = self.device.type == "cuda"
        if self.cuda:
            self.model.to(memory_format=torch.channels_last)
        self.multicrop, self.batch_size = multicrop, batch_size
        self.knee_neck = knee_neck  # rescale each crop's skeleton to this knee-neck length (mm) before averaging
        self.size = model.config.input_size

    @torch.no_grad()
    def run(self, crops: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """The model's stage outputs for (B,3,S,S) crops (bf16 autocast on CUDA), on the CPU in float32."""
        x = crops.to(self.device)
        if self.cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cuda):
            outs = self.model(x)
        return [{k: v.float().cpu() for k, v in o.items()} for o in outs]

    def predict(self, images: Sequence[str | os.PathLike | Image.Image], intrinsics: np.ndarray, boxes: np.ndarray,
                root_depth: np.ndarray) -> np.ndarray:
        """Camera-space joints (N,17,3) mm for N images with their intrinsics (N,4), boxes (N,4) and root depths (N,);
        with ``knee_neck`` set, root-relative joints, each crop scaled to that knee-neck length before averaging."""
        intrinsics = np.asarray(intrinsics, np.float64).reshape(-1, 4)
        centre, side = coords.square_box(np.asarray(boxes, np.float64).reshape(-1, 4), 1.5)
        side = np.maximum(side, 1.0)
        z_ref = np.asarray(root_depth, np.float64).reshape(-1)
        out = np.zeros((len(intrinsics), self.model.config.joints, 3))
        for s in range(0, len(intrinsics), self.batch_size):
            sl = slice(s, s + self.batch_size)
            pics = [im if isinstance(im, Image.Image) else open_rgb(im) for im in images[sl]]
            views = crop_views(self.multicrop)
            for flip, (dx, dy) in views:
                geom = coords.make_crop(intrinsics[sl], centre[sl] + np.array([dx, dy]), side[sl], self.size,
                                        flip=np.full(len(pics), flip))
                affine = coords.image_affine(geom)
                batch = torch.stack([planes_to_tensor(warp_planes(p, a, self.size)) for p, a in zip(pics, affine)])
                ndc = self.run(batch)[-1]["coords"].double().numpy()
                if flip:
                    ndc = ndc[:, FLIP]
                joints = coords.ndc_to_camera(ndc, geom, z_ref[sl])
                out[sl] += joints if self.knee_neck is None else knee_neck_rescale(joints, self.knee_neck)
            out[sl] /= len(views)
        return out


def write_joints(path: str | os.PathLike, joints: np.ndarray, intrinsics: np.ndarray, root_depth: float,
                 box: np.ndarray, image: str, assumed: dict[str, bool]) -> None:
    """Write one image's 3D joints (17,3) in camera-space millimetres as JSON or CSV (by suffix), with the
    camera intrinsics and root depth they were computed with, and which of those were assumed."""
    from pathlib import Path

    from posebench.io_utils import write_json_atomic, write_text_atomic
    from posebench.skeleton import JOINTS, ROOT

    path = Path(path)
    fx, fy, cx, cy = (float(v) for v in np.asarray(intrinsics).reshape(4))
    rel = joints - joints[ROOT]
    if path.suffix.lower() == ".csv":
        head = "joint,x_mm,y_mm,z_mm,x_rel_mm,y_rel_mm,z_rel_mm,fx,fy,cx,cy,root_depth_mm,focal_assumed,depth_assumed"
        lines = [head] + [f"{name},{a[0]:.3f},{a[1]:.3f},{a[2]:.3f},{r[0]:.3f},{r[1]:.3f},{r[2]:.3f},{fx:.3f},{fy:.3f},"
                          f"{cx:.3f},{cy:.3f},{root_depth:.3f},{int(assumed['focal'])},{int(assumed['depth'])}"
                          for name, a, r in zip(JOINTS, joints, rel)]
        write_text_atomic(path, "\n".join(lines) + "\n")
        return
    write_json_atomic(path, {
        "image": image, "units": "mm", "frame": "camera (x right, y down, z forward); root = pelvis",
        "camera": {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "assumed": assumed["focal"]},
        "root_depth_mm": float(root_depth), "root_depth_assumed": assumed["depth"],
        "note": "with an assumed camera or depth the skeleton's scale is assumed too; the root-relative shape "
                "is what the image determines",
        "box": [float(v) for v in np.asarray(box).reshape(4)],
        "joints": {name: [round(float(v), 3) for v in a] for name, a in zip(JOINTS, joints)},
        "root_relative": {name: [round(float(v), 3) for v in r] for name, r in zip(JOINTS, rel)},
    })

"""MargiPose as a posebench model (entry point ``margipose`` in the ``posebench.models`` group)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from margipose.checkpoint import CheckpointError, checkpoint_hash, load_model
from margipose.data import resolve_image
from margipose.infer import ASSUMED_DEPTH_MM, Predictor

KNEE_NECK_MM = 920.0


def _flag(value: Any) -> bool:
    """A boolean option that may arrive as text from a command line (true/false/1/0/yes/no)."""
    if isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"margipose: expected true or false, got {value!r}")
        return value.lower() in ("true", "1", "yes")
    return bool(value)


class MargiPoseModel:
    """``predict(batch) -> (B,17,3)`` camera-space mm from the template columns (docs/contracts.md).

    Uses the ground-truth root depth when the protocol grants it (``root_depth`` in the batch), otherwise
    ``assumed_depth`` mm, leaving the scale to the protocol's rescaling. ``checkpoint`` is a posebench
    checkpoint or one of the authors' released files (``margipose-mpi3d.pth``), loaded as it is.
    Options: ``multicrop`` (ten-crop testing), ``batch_size`` (images per forward pass), ``assumed_depth``.
    """

    name = "margipose"

    def __init__(self, protocol: Any, data: str | os.PathLike | None = None, checkpoint: str | None = None,
                 device: str | None = None, multicrop: bool = False, batch_size: int = 32,
                 assumed_depth: float = ASSUMED_DEPTH_MM, **options: Any) -> None:
        if options:
            raise TypeError(f"margipose: unknown option(s) {', '.join(sorted(options))}; "
                            f"known: multicrop, batch_size, assumed_depth")
        if checkpoint is None:
            raise CheckpointError("margipose needs a trained checkpoint (--checkpoint FILE); see `margipose train`")
        multicrop, batch_size, assumed_depth = _flag(multicrop), int(batch_size), float(assumed_depth)
        model = load_model(checkpoint)  # a posebench checkpoint or the authors' released file, as it is
        self.checkpoint_hash = checkpoint_hash(checkpoint)
        # the reference fixes each crop's scale by the 920 mm knee-neck search where the protocol rescales so
        knee_neck = KNEE_NECK_MM if getattr(protocol, "rescale", "none") == "knee_neck_920" and multicrop else None
        self.predictor = Predictor(model, device, multicrop, batch_size, knee_neck)
        self.use_root_depth = "root_depth" in tuple(getattr(protocol, "granted", ()))
        self.assumed_depth = float(assumed_depth)

    def predict(self, batch: dict[str, Any]) -> np.ndarray:
        n = len(batch["index"]) if "index" in batch else len(batch["image"])
        root = str(batch.get("image_root", ""))
        images = [resolve_image(root, str(p)) for p in batch["image"]]
        if self.use_root_depth and "root_depth" in batch:
            depth = np.asarray(batch["root_depth"], np.float64)
        else:
            depth = np.full(n, self.assumed_depth)
        return self.predictor.predict(images, batch["intrinsics"], batch["box"], depth)

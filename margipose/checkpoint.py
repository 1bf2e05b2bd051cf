"""Checkpoints: plain dicts of tensors and primitives written with torch.save and read back with
``torch.load(weights_only=True)``, so a checkpoint from elsewhere stays data (no pickled code)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from posebench.io_utils import atomic_path, file_sha256

from margipose.model import ConfigError, MargiPose, MargiPoseConfig
from margipose.safeload import safe_load

FORMAT = "margipose-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not a MargiPose checkpoint."""


def save_checkpoint(path: str | os.PathLike, model: MargiPose, **extra: Any) -> None:
    """Write the model's config and weights (CPU tensors) plus ``extra`` (optimizer state, epoch, data hashes...)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(), "model": state, **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint safely (weights only) and check that it is one of ours."""
    path = Path(path)
    ckpt = safe_load(path, CheckpointError, "checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a MargiPose checkpoint (no format={FORMAT!r} key)")
    if int(ckpt.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt['version']} is newer than this code reads ({VERSION})")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike = "<checkpoint>") -> MargiPose:
    """Build the model the checkpoint describes and load its weights."""
    try:
        model = MargiPose(**MargiPoseConfig.from_dict(dict(ckpt["config"])).to_dict())
        model.load_state_dict(ckpt["model"], strict=True)
    except (ConfigError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: weights do not match the stored config ({str(e).splitlines()[0]})") from None
    return model


def load_model(path: str | os.PathLike) -> MargiPose:
    """The model in eval mode from a posebench checkpoint or the authors' released format
    (``{'state_dict', 'model_desc', 'train_datasets'}``, margipose.authors); both read with weights_only=True."""
    from margipose.authors import is_authors_format, model_from_authors

    path = Path(path)
    obj = safe_load(path, CheckpointError, "checkpoint")
    if is_authors_format(obj):
        return model_from_authors(obj, str(path)).eval()
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: neither a posebench MargiPose checkpoint (format={FORMAT!r}) nor the "
                              f"authors' format (state_dict + model_desc)")
    if int(obj.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {obj['version']} is newer than this code reads ({VERSION})")
    return model_from_checkpoint(obj, path).eval()


def checkpoint_hash(path: str | os.PathLike) -> str:
    """SHA-256 of the checkpoint file's bytes."""
    return file_sha256(path)

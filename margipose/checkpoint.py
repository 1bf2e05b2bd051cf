"""Checkpoints: plain dicts of tensors and primitives written with torch.save and read back with
``torch.load(weights_only=True)``, so a checkpoint from elsewhere stays data (no pickled code)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from posebench.errors import PosebenchError
from posebench.io_utils import atomic_path, file_sha256

from margipose.fieldtypes import shown
from margipose.model import ConfigError, MargiPose, MargiPoseConfig
from margipose.safeload import safe_load

FORMAT = "margipose-checkpoint"
VERSION = 1


class CheckpointError(PosebenchError):
    """A checkpoint file is missing, unreadable, or not a MargiPose checkpoint."""


class CheckpointFieldError(CheckpointError):
    """A checkpoint field of the wrong type or out of range; ``field`` names it (``config.stages`` for an option)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def save_checkpoint(path: str | os.PathLike, model: MargiPose, **extra: Any) -> None:
    """Write the model's config and weights (CPU tensors) plus ``extra`` (optimizer state, epoch, data hashes...)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(), "model": state, **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def check_fields(ckpt: dict[str, Any], path: str | os.PathLike = "<checkpoint>") -> None:
    """The fields every posebench checkpoint has, of their types: ``version`` (an integer this code reads),
    ``config`` (a dict of model options) and ``model`` (a dict of named tensors); ``CheckpointFieldError`` else."""
    version = ckpt.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointFieldError(f"{path}: checkpoint field 'version' must be a positive integer, got "
                                   f"{shown(version) if 'version' in ckpt else 'nothing'}", "version")
    if version > VERSION:
        raise CheckpointFieldError(f"{path}: checkpoint version {version} is newer than this code reads ({VERSION})",
                                   "version")
    for name, what in (("config", "a dict of model options"), ("model", "a dict of named tensors")):
        if not isinstance(ckpt.get(name), dict):
            got = shown(ckpt[name]) if name in ckpt else "nothing"
            raise CheckpointFieldError(f"{path}: checkpoint field {name!r} must be {what}, got {got}", name)
    bad = next((k for k, v in ckpt["model"].items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise CheckpointFieldError(f"{path}: checkpoint field 'model' must be a dict of named tensors; entry {bad!r} "
                                   f"is {shown(ckpt['model'][bad])}", "model")


def _check_ours(obj: Any, path: Path, refusal: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: {refusal}")
    check_fields(obj, path)
    return obj


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint safely (weights only) and check that it is one of ours, its fields of their types."""
    path = Path(path)
    return _check_ours(safe_load(path, CheckpointError, "checkpoint"), path,
                       f"not a MargiPose checkpoint (no format={FORMAT!r} key)")


def config_from_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike = "<checkpoint>") -> MargiPoseConfig:
    """The checked model config of a checkpoint: every option of its type and in range, and as many stages as
    the weights hold (checked before any model is built, so a file cannot ask for a huge one)."""
    check_fields(ckpt, path)
    try:
        cfg = MargiPoseConfig.from_dict(ckpt["config"])
        cfg.validate()
    except ConfigError as e:
        field = f"config.{e.field}" if e.field else "config"
        raise CheckpointFieldError(f"{path}: checkpoint field 'config': {e}", field) from None
    stored = {k.split(".")[1] for k in ckpt["model"] if k.startswith("columns.") and k.count(".") > 1}
    if len(stored) != cfg.stages:
        raise CheckpointFieldError(f"{path}: checkpoint config stages={cfg.stages} but its weights hold "
                                   f"{len(stored)} stage(s)", "config.stages")
    return cfg


def check_shapes(cfg: MargiPoseConfig, weights: dict[str, Any], path: str | os.PathLike = "<checkpoint>") -> None:
    """The config's model (built on the meta device: shapes, no memory) must have exactly the stored tensors'
    names and shapes; so a config asking for a huge model is refused before anything is allocated."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in MargiPose(**cfg.to_dict()).state_dict().items()}
    except (RuntimeError, ValueError, OverflowError) as e:  # e.g. a size whose storage overflows
        raise CheckpointError(f"{path}: the stored config describes no buildable model ({str(e).splitlines()[0]})"
                              ) from None
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        what = f"lacks {missing[0]!r}" if missing else f"holds an unexpected {extra[0]!r}"
        raise CheckpointError(f"{path}: weights do not match the stored config (the state dict {what}; "
                              f"{len(missing)} missing, {len(extra)} unexpected)")
    for k, shape in expected.items():
        got = tuple(getattr(weights[k], "shape", ()))
        if got != shape:
            raise CheckpointError(f"{path}: weights do not match the stored config ({k} is {list(got)}, the config's "
                                  f"model has {list(shape)})")


def model_from_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike = "<checkpoint>") -> MargiPose:
    """Build the model the checkpoint describes and load its weights (shapes checked before building)."""
    cfg = config_from_checkpoint(ckpt, path)
    check_shapes(cfg, ckpt["model"], path)
    model = MargiPose(**cfg.to_dict())
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as e:
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
    ckpt = _check_ours(obj, path, f"neither a posebench MargiPose checkpoint (format={FORMAT!r}) nor the "
                                  f"authors' format (state_dict + model_desc)")
    return model_from_checkpoint(ckpt, path).eval()


def checkpoint_hash(path: str | os.PathLike) -> str:
    """SHA-256 of the checkpoint file's bytes."""
    return file_sha256(path)

"""The authors' released checkpoints (anibali/margipose: ``margipose-mpi3d.pth``, ``margipose-h36m.pth``).

Their format is a ``torch.save``d dict ``{'state_dict', 'model_desc', 'train_datasets'}`` (training runs
add ``optimizer`` and ``epoch``), where ``model_desc`` is ``{'type': 'margipose', 'version': '6.x.y',
'settings': {'n_stages', 'axis_permutation', 'feature_extractor', 'pixelwise_loss'}}`` and the state dict
uses the reference module names. Every reference tensor has exactly one counterpart here (names below),
so the weights load with no conversion step. The reference normalises images with the ImageNet mean and
standard deviation before the model; ours does the same inside the model (``normalisation="imagenet"``),
so both take the same RGB crop and give the same outputs.

Name correspondence (ours -> reference):
  backbone.stem.features.<i>.*                 -> inner.in_cnn.<i>.*            (Inception-v4 features 0..6)
  backbone.reduce.0.* / backbone.reduce.1.*    -> inner.in_cnn.7.* / inner.in_cnn.8.*
  columns.<t>.<p>.down.<b>.body.<k>.*          -> inner.<p>_hm_cnns.<t>.down_layers.<b>.module.<k>.*
  columns.<t>.<p>.up.<b>.body.<k>.*            -> inner.<p>_hm_cnns.<t>.up_layers.<b>.module.<k>.*
  columns.<t>.<p>.{down,up}.<b>.shortcut.<k>.* -> ....{down,up}_layers.<b>.shortcut.<k>.*
  combiners.<t>.weight                         -> inner.hm_combiners.<t>.conv.weight
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from margipose.checkpoint import CheckpointError, CheckpointFieldError
from margipose.fieldtypes import shown
from margipose.model import MargiPose

MODEL_TYPE = "margipose"
SUPPORTED_MAJOR = 6  # the reference's factory accepts '^6.0.0'
SETTINGS = ("n_stages", "axis_permutation", "feature_extractor", "pixelwise_loss")


class AuthorsFormatError(CheckpointError):
    """A file in the authors' checkpoint format that this code cannot load faithfully."""


class AuthorsFieldError(AuthorsFormatError, CheckpointFieldError):
    """An authors'-format field of the wrong type or out of range (``field``: e.g. ``model_desc.settings.n_stages``)."""

    def __init__(self, message: str, field: str) -> None:
        CheckpointFieldError.__init__(self, message, field)


_RULES = (
    (re.compile(r"^backbone\.stem\.features\.(\d+)\.(.+)$"), r"inner.in_cnn.\1.\2"),
    (re.compile(r"^backbone\.reduce\.0\.(.+)$"), r"inner.in_cnn.7.\1"),
    (re.compile(r"^backbone\.reduce\.1\.(.+)$"), r"inner.in_cnn.8.\1"),
    (re.compile(r"^columns\.(\d+)\.(xy|zy|xz)\.(down|up)\.(\d+)\.body\.(.+)$"), r"inner.\2_hm_cnns.\1.\3_layers.\4.module.\5"),
    (re.compile(r"^columns\.(\d+)\.(xy|zy|xz)\.(down|up)\.(\d+)\.shortcut\.(.+)$"), r"inner.\2_hm_cnns.\1.\3_layers.\4.shortcut.\5"),
    (re.compile(r"^combiners\.(\d+)\.weight$"), r"inner.hm_combiners.\1.conv.weight"),
)


def reference_key(key: str) -> str:
    """The reference's state-dict name for one of ours (``ValueError`` for a name with no counterpart)."""
    for pattern, repl in _RULES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    raise ValueError(f"{key!r} has no counterpart in the reference model")


def is_authors_format(obj: Any) -> bool:
    """True for a loaded dict shaped like the authors' checkpoints."""
    return isinstance(obj, dict) and "state_dict" in obj and "model_desc" in obj


def options_from_desc(desc: Any, where: str = "<checkpoint>") -> dict[str, Any]:
    """MargiPose options for a reference ``model_desc``; unsupported types, versions or settings are refused."""
    if not isinstance(desc, dict):
        raise AuthorsFieldError(f"{where}: model_desc must be a dict, got {shown(desc)}", "model_desc")
    if desc.get("type") != MODEL_TYPE:
        raise AuthorsFormatError(f"{where}: model_desc type {desc.get('type')!r} is not supported (only 'margipose')")
    version = desc.get("version", "")
    if not isinstance(version, str):
        raise AuthorsFieldError(f"{where}: model_desc version must be a string like '6.0.1', got {shown(version)}",
                                "model_desc.version")
    if not re.match(rf"^{SUPPORTED_MAJOR}\.\d+\.\d+", version):
        raise AuthorsFormatError(f"{where}: model_desc version {version!r} is not supported (only 6.x.y)")
    settings = desc.get("settings", {})
    if not isinstance(settings, dict):
        raise AuthorsFieldError(f"{where}: model_desc settings must be a dict, got {shown(settings)}",
                                "model_desc.settings")
    unknown = sorted((k for k in settings if k not in SETTINGS), key=repr)
    if unknown:
        raise AuthorsFormatError(f"{where}: unsupported model setting(s) "
                                 f"{', '.join(k if isinstance(k, str) else repr(k) for k in unknown)}; supported: "
                                 f"{', '.join(SETTINGS)}")
    stages = settings.get("n_stages", 4)
    if not isinstance(stages, int) or isinstance(stages, bool) or stages < 1:
        raise AuthorsFieldError(f"{where}: unsupported setting n_stages={shown(stages)} (a positive integer)",
                                "model_desc.settings.n_stages")
    permute = settings.get("axis_permutation", True)
    if not isinstance(permute, bool):
        raise AuthorsFieldError(f"{where}: unsupported setting axis_permutation={shown(permute)} (true or false)",
                                "model_desc.settings.axis_permutation")
    extractor = settings.get("feature_extractor", "inceptionv4")
    if extractor != "inceptionv4":
        raise AuthorsFormatError(f"{where}: unsupported setting feature_extractor={extractor!r} "
                                 f"(only 'inceptionv4' is implemented)")
    loss = settings.get("pixelwise_loss", "jsd")
    if loss not in ("jsd", None):
        raise AuthorsFormatError(f"{where}: unsupported setting pixelwise_loss={loss!r} ('jsd' or None)")
    return {"stages": stages, "axis_permutation": permute, "jsd": loss == "jsd", "normalisation": "imagenet"}


def state_from_reference(model: MargiPose, state: Any, where: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """Our state dict from a reference one: every name mapped one to one, shapes checked, nothing left over."""
    _check_state(state, where)
    ours = model.state_dict()
    names = {reference_key(k): k for k in ours}
    missing = sorted(set(names) - set(state))
    extra = sorted(set(state) - set(names))  # all strings (_check_state)
    if missing or extra:
        detail = "; ".join(part for part in (
            f"{len(missing)} missing, e.g. {missing[0]!r}" if missing else "",
            f"{len(extra)} unexpected, e.g. {extra[0]!r}" if extra else "") if part)
        raise AuthorsFormatError(f"{where}: state_dict does not match the described model ({detail})")
    out = {}
    for ref, k in names.items():
        value = state[ref]
        if tuple(value.shape) != tuple(ours[k].shape):
            raise AuthorsFormatError(f"{where}: {ref!r} has shape {tuple(value.shape)}, expected {tuple(ours[k].shape)}")
        out[k] = value
    return out


def _check_state(state: Any, where: str) -> None:
    """A state dict: a dict of tensors under string names (``AuthorsFieldError`` naming ``state_dict`` else)."""
    if not isinstance(state, dict):
        raise AuthorsFieldError(f"{where}: state_dict must be a dict of named tensors, got {shown(state)}", "state_dict")
    bad = next((k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise AuthorsFieldError(f"{where}: state_dict must be a dict of named tensors; entry {bad!r} is "
                                f"{shown(state[bad])}", "state_dict")


def model_from_authors(ckpt: dict[str, Any], where: str = "<checkpoint>") -> MargiPose:
    """Build and load the model an authors'-format checkpoint describes."""
    options = options_from_desc(ckpt["model_desc"], where)
    state = ckpt["state_dict"]
    _check_state(state, where)
    stored = {k.split(".")[2] for k in state if re.match(r"^inner\.(xy|zy|xz)_hm_cnns\.\d+\.", k)}
    if len(stored) != options["stages"]:  # checked before building, so a file cannot ask for a huge model
        raise AuthorsFieldError(f"{where}: model_desc settings n_stages={options['stages']} but the state_dict holds "
                                f"{len(stored)} stage(s)", "model_desc.settings.n_stages")
    model = MargiPose(**options)
    model.load_state_dict(state_from_reference(model, state, where), strict=True)
    return model


def convert_authors_file(path: str | os.PathLike) -> tuple[MargiPose, dict[str, Any]]:
    """Load an authors'-format file (weights only) -> (model, provenance: file name, model_desc, train_datasets)."""
    from margipose.safeload import safe_load

    path = Path(path)
    obj = safe_load(path, CheckpointError, "checkpoint")
    if not is_authors_format(obj):
        raise AuthorsFormatError(f"{path}: not in the authors' format (a dict with state_dict and model_desc)")
    model = model_from_authors(obj, str(path))
    datasets = obj.get("train_datasets", [])
    provenance = {"format": "anibali/margipose", "file": path.name, "model_desc": _plain(obj["model_desc"]),
                  "train_datasets": [str(d) for d in datasets] if isinstance(datasets, (list, tuple)) else []}
    return model, provenance


def _plain(obj: Any) -> Any:
    """Primitives only (for storing in a checkpoint)."""
    return json.loads(json.dumps(obj, default=str))

"""Truncated Inception-v4 (stem up to the first Inception-A block) with 'same' padding: stride 8, 384 channels.

Layer names follow timm's ``inception_v4`` (and Cadene's ``inceptionv4``, which timm's port keeps), so a
local state dict of those weights loads by name: ``features.0`` .. ``features.6`` map one to one onto
:class:`InceptionStem` ``features.0`` .. ``features.6`` (each ``BasicConv`` holds ``conv.weight`` and
``bn.{weight,bias,running_mean,running_var,num_batches_tracked}``); keys from ``features.7`` on and the
classifier (``last_linear.*`` / ``head.*`` / ``fc.*``) are ignored. Every convolution and max-pool pads
kernel//2 (the reference's change), so a 256x256 input gives 32x32x384; the reference then adds a 1x1
convolution to 128 channels + BN + ReLU (:class:`Backbone`).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from posebench.errors import PosebenchError

from margipose.safeload import safe_load

# Input normalisations: ImageNet statistics (the reference's choice) or Inception's 0.5/0.5, which the
# timm/Cadene Inception-v4 weights expect.
NORMALISATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
BYTE_SCALE = torch.tensor(1 / 255, dtype=torch.float32).item()  # float32(1/255): a byte to [0, 1], as pixels does


class WeightsError(PosebenchError):
    """A backbone weights file is missing, unreadable, or does not hold the expected Inception-v4 keys."""


def _same(k: int | tuple[int, int]) -> int | tuple[int, int]:
    return k // 2 if isinstance(k, int) else (k[0] // 2, k[1] // 2)


class BasicConv(nn.Sequential):
    """Conv (no bias) + BN (eps 1e-3) + ReLU, named conv/bn like timm."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=_same(kernel), bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.act = nn.ReLU(inplace=True)


class Mixed3a(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv = BasicConv(64, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.maxpool(x), self.conv(x)], 1)


class Mixed4a(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv(160, 64, 1), BasicConv(64, 96, 3))
        self.branch1 = nn.Sequential(BasicConv(160, 64, 1), BasicConv(64, 64, (1, 7)), BasicConv(64, 64, (7, 1)),
                                     BasicConv(64, 96, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x)], 1)


class Mixed5a(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = BasicConv(192, 192, 3, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.maxpool(x)], 1)


class InceptionA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv(384, 96, 1)
        self.branch1 = nn.Sequential(BasicConv(384, 64, 1), BasicConv(64, 96, 3))
        self.branch2 = nn.Sequential(BasicConv(384, 64, 1), BasicConv(64, 96, 3), BasicConv(96, 96, 3))
        self.branch3 = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                                     BasicConv(384, 96, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class InceptionStem(nn.Module):
    """Inception-v4 ``features[0..6]``: (B,3,S,S) -> (B,384,S/8,S/8)."""

    out_channels = 384
    stride = 8

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            BasicConv(3, 32, 3, stride=2), BasicConv(32, 32, 3), BasicConv(32, 64, 3),
            Mixed3a(), Mixed4a(), Mixed5a(), InceptionA(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def stem_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``features.0``-``features.6`` entries of a timm/Cadene Inception-v4 state dict (prefixes such as
    ``module.`` or ``model.`` are stripped)."""
    out = {}
    for key, value in state.items():
        k = key
        for prefix in ("module.", "model."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        parts = k.split(".")
        if len(parts) > 2 and parts[0] == "features" and parts[1].isdigit() and int(parts[1]) <= 6:
            out[k] = value
    return out


class Backbone(nn.Module):
    """Input normalisation + truncated Inception-v4 + 1x1 conv to ``channels`` + BN + ReLU."""

    def __init__(self, channels: int = 128, normalisation: str = "imagenet") -> None:
        super().__init__()
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {sorted(NORMALISATIONS)}, got {normalisation!r}")
        mean, std = NORMALISATIONS[normalisation]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.stem = InceptionStem()
        self.reduce = nn.Sequential(nn.Conv2d(InceptionStem.out_channels, channels, 1), nn.BatchNorm2d(channels),
                                    nn.ReLU(inplace=True))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S) RGB in [0,1], or its uint8 bytes -> (B,channels,S/8,S/8). Bytes are scaled by
        float32(1/255) in float32, exactly as margipose.pixels makes the float tensor, so both give the same
        output; training ships bytes (a quarter of the memory) and scales them on the device."""
        if images.dtype == torch.uint8:
            images = images.to(torch.float32).mul_(BYTE_SCALE)
        return self.reduce(self.stem((images - self.mean) / self.std))

    def load_inception_weights(self, path: str | os.PathLike) -> None:
        """Load the stem from a local timm/Cadene Inception-v4 state dict (``torch.load(weights_only=True)``)."""
        path = Path(path)
        state = safe_load(path, WeightsError, "backbone weights")
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise WeightsError(f"{path}: expected a state dict, got {type(state).__name__}")
        stem = stem_state_dict(state)
        expected = self.stem.state_dict()
        missing = sorted(set(expected) - set(stem))
        if missing:
            raise WeightsError(f"{path}: not an Inception-v4 state dict in timm key names; missing {len(missing)} "
                               f"keys, e.g. {missing[0]!r}")
        bad = [k for k in expected if tuple(stem[k].shape) != tuple(expected[k].shape)]
        if bad:
            raise WeightsError(f"{path}: {bad[0]!r} has shape {tuple(stem[bad[0]].shape)}, "
                               f"expected {tuple(expected[bad[0]].shape)}")
        self.stem.load_state_dict(stem, strict=True)

"""MargiPose: stacked stages of marginal heatmap columns (xy, zy, xz) on a truncated Inception-v4.

``MargiPose()`` is the paper's configuration (research/margipose-reference.md section 5): 256x256 input,
128-channel features at 32x32, 4 stages x 3 columns, axis permutation in 12 groups of 16, 1x1 stage
combiners, a projection shortcut on every residual block; 57,867,668 parameters, as the reference code. ``head="volumetric"`` swaps each stage's three columns for one column whose last block outputs
17*D channels read as a (17, D, H, W) volume (integral regression), for comparison.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from posebench.errors import PosebenchError

from margipose.backbone import NORMALISATIONS, Backbone
from margipose.fieldtypes import describe, mismatched_fields, shown
from margipose.heatmaps import flat_softmax, soft_argmax

PLANES = ("xy", "zy", "xz")


class ConfigError(PosebenchError):
    """Model options that do not describe a buildable MargiPose; ``field`` names the option at fault, if one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MargiPoseConfig:
    """Every option of the model; the defaults are the paper's configuration."""

    stages: int = 4
    channels: int = 128            # features entering each column (after the 1x1 reduction)
    mid_channels: int = 192        # channels in the column's half-resolution middle
    joints: int = 17
    input_size: int = 256
    heatmap_size: int | None = None  # default input_size / 8; larger sizes add upsampling blocks
    axis_permutation: bool = True
    jsd: bool = True               # Jensen-Shannon regulariser in the loss
    sigma: float = 1.0             # Gaussian target width in heatmap cells
    head: str = "marginal"         # "marginal" (xy/zy/xz) or "volumetric"
    depth_size: int = 32           # D of the volumetric head
    normalisation: str = "imagenet"

    @property
    def feature_size(self) -> int:
        return self.input_size // 8

    @property
    def out_size(self) -> int:
        return self.heatmap_size or self.feature_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> MargiPoseConfig:
        """The config from a dict of options (types are checked by ``validate``)."""
        if not isinstance(d, dict):
            raise ConfigError(f"MargiPose options must be a dict, got {shown(d)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted((k for k in d if k not in known), key=repr)
        if unknown:
            names = ", ".join(k if isinstance(k, str) else repr(k) for k in unknown)
            raise ConfigError(f"unknown MargiPose option(s) {names}; known: {', '.join(sorted(known))}",
                              field=unknown[0] if isinstance(unknown[0], str) else None)
        return cls(**d)

    def validate(self) -> None:
        """Every option of its declared type and in range (``ConfigError`` naming the option otherwise)."""
        for name, value, hint in mismatched_fields(self):
            raise ConfigError(f"{name} must be {describe(hint)}, got {shown(value)}", field=name)
        for name, least in (("stages", 1), ("channels", 1), ("mid_channels", 1), ("joints", 1), ("depth_size", 2)):
            if getattr(self, name) < least:
                raise ConfigError(f"{name} must be >= {least}, got {getattr(self, name)}", field=name)
        if self.heatmap_size is not None and self.heatmap_size < 1:
            raise ConfigError(f"heatmap_size must be >= 1 (or None for input_size/8), got {self.heatmap_size}",
                              field="heatmap_size")
        if not self.sigma > 0:
            raise ConfigError(f"sigma must be > 0, got {self.sigma}", field="sigma")
        if self.head not in ("marginal", "volumetric"):
            raise ConfigError(f"head must be 'marginal' or 'volumetric', got {self.head!r}", field="head")
        if self.normalisation not in NORMALISATIONS:
            raise ConfigError(f"normalisation must be one of {', '.join(sorted(NORMALISATIONS))}, got "
                              f"{self.normalisation!r}", field="normalisation")
        if self.input_size % 16 or self.input_size < 32:
            raise ConfigError(f"input_size must be a multiple of 16 and >= 32, got {self.input_size}",
                              field="input_size")
        ratio = self.out_size / self.feature_size
        if ratio < 1 or not float(math.log2(ratio)).is_integer():
            raise ConfigError(f"heatmap_size must be input_size/8 times a power of two, got {self.out_size}",
                              field="heatmap_size")
        group = self.feature_size // 2
        if self.head == "marginal" and self.axis_permutation and self.mid_channels % group:
            raise ConfigError(f"axis permutation needs mid_channels ({self.mid_channels}) divisible by the "
                              f"middle map size ({group})", field="mid_channels")


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c)


def init_parameters(module: nn.Module) -> None:
    """The reference's initialisation: Kaiming normal (fan_out, ReLU gain) for convolutions, biases 0,
    BatchNorm weight 1 and bias 0 (applied to the heatmap columns and the stage combiners)."""
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResBlock(nn.Module):
    """Two 3x3 conv-BN-ReLU layers plus a projection shortcut (1x1 conv + BN) on every block, also where
    the shapes match (ResNet "option C", as the paper's section 4 and the reference code).

    ``stride=2`` halves the map; ``up=True`` doubles it with transposed convolutions (k3 s2 p1 op1).
    The sum has no ReLU after it (as the reference)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, up: bool = False) -> None:
        super().__init__()
        if up:
            first = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=False)
            short = nn.ConvTranspose2d(cin, cout, 1, stride=2, output_padding=1, bias=False)
        else:
            first = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            short = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        self.body = nn.Sequential(first, _bn(cout), nn.ReLU(inplace=True),
                                  nn.Conv2d(cout, cout, 3, padding=1, bias=False), _bn(cout), nn.ReLU(inplace=True))
        self.shortcut = nn.Sequential(short, _bn(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class AxisPermutation(nn.Module):
    """Split the channels into groups of S (S = map side) and swap, within each group, the channel axis with
    the width (``zy``) or the height (``xz``) axis; ``xy`` is the identity. A pure permutation of the
    elements, its own inverse, and parameter-free."""

    def __init__(self, plane: str) -> None:
        super().__init__()
        if plane not in PLANES:
            raise ConfigError(f"plane must be one of {PLANES}, got {plane!r}")
        self.plane = plane

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.plane == "xy":
            return x
        b, c, h, w = x.shape
        side = w if self.plane == "zy" else h
        if h != w or c % side:
            raise ConfigError(f"axis permutation needs a square map and channels divisible by its side; got {tuple(x.shape)}")
        g = x.reshape(b, c // side, side, h, w)
        g = g.transpose(2, 4) if self.plane == "zy" else g.transpose(2, 3)
        return g.reshape(b, c, h, w)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)


class Column(nn.Module):
    """Res, Res, Res(stride 2), Res, Res -> axis permutation -> Res, Res, Res(up), Res, [Res(up)...], Res -> out."""

    def __init__(self, cfg: MargiPoseConfig, out_channels: int, plane: str) -> None:
        super().__init__()
        c, m = cfg.channels, cfg.mid_channels
        self.down = nn.Sequential(ResBlock(c, c), ResBlock(c, c), ResBlock(c, m, stride=2), ResBlock(m, m),
                                  ResBlock(m, m))
        self.permute = AxisPermutation(plane if cfg.axis_permutation else "xy")
        extra = int(round(math.log2(cfg.out_size / cfg.feature_size)))
        self.up = nn.Sequential(ResBlock(m, m), ResBlock(m, m), ResBlock(m, c, up=True), ResBlock(c, c),
                                *[ResBlock(c, c, up=True) for _ in range(extra)], ResBlock(c, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.permute(self.down(x)))


class MargiPose(nn.Module):
    """The model: ``forward(images)`` returns one dict per stage with the heatmaps and NDC ``coords`` (B,J,3).

    Marginal head: ``xy``, ``zy``, ``xz`` softmax heatmaps (B,J,H,W) (zy: width = z, height = y; xz: width = x,
    height = z); volumetric head: ``volume`` (B,J,D,H,W). Images are (B,3,S,S) RGB in [0,1].
    """

    def __init__(self, **options: Any) -> None:
        super().__init__()
        cfg = MargiPoseConfig.from_dict(options)
        cfg.validate()
        self.config = cfg
        self.backbone = Backbone(cfg.channels, cfg.normalisation)
        j, c = cfg.joints, cfg.channels
        if cfg.head == "marginal":
            self.columns = nn.ModuleList(
                nn.ModuleDict({p: Column(cfg, j, p) for p in PLANES}) for _ in range(cfg.stages))
            head_channels = 3 * j
        else:
            self.columns = nn.ModuleList(
                nn.ModuleDict({"volume": Column(cfg, j * cfg.depth_size, "xy")}) for _ in range(cfg.stages))
            head_channels = j * cfg.depth_size
        f = cfg.out_size // cfg.feature_size  # combiners bring heatmaps back to the feature resolution
        self.combiners = nn.ModuleList(nn.Conv2d(head_channels, c, f, stride=f, bias=False)
                                       for _ in range(cfg.stages - 1))
        init_parameters(self.columns)
        init_parameters(self.combiners)

    def _stage(self, t: int, inp: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        cfg = self.config
        cols = self.columns[t]
        if cfg.head == "marginal":
            maps = {p: flat_softmax(cols[p](inp)) for p in PLANES}
            xy, zy, xz = (soft_argmax(maps[p]) for p in PLANES)
            z = 0.5 * (zy[..., 0] + xz[..., 1])
            out = dict(maps, coords=torch.stack([xy[..., 0], xy[..., 1], z], dim=-1))
            combined = torch.cat([maps[p] for p in PLANES], dim=1)
        else:
            logits = cols["volume"](inp)
            b, _, h, w = logits.shape
            vol = flat_softmax(logits.reshape(b, cfg.joints, cfg.depth_size, h, w), 3)
            out = {"volume": vol, "coords": soft_argmax(vol, 3)}
            combined = vol.reshape(b, -1, h, w)
        return out, combined

    def forward(self, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        features = self.backbone(images)
        inp = features
        outputs = []
        combined = features  # replaced by each stage's heatmaps before the next stage reads it
        for t in range(self.config.stages):
            if t > 0:
                inp = inp + self.combiners[t - 1](combined.to(inp.dtype))
            out, combined = self._stage(t, inp)
            outputs.append(out)
        return outputs

    @torch.no_grad()
    def predict_ndc(self, images: torch.Tensor) -> torch.Tensor:
        """Final-stage NDC coordinates (B,J,3)."""
        return self.forward(images)[-1]["coords"]


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

"""The training loss: for every stage, JSD of each heatmap against a Gaussian at the target plus the
Euclidean distance of that stage's own NDC coordinates (research/margipose-reference.md section 6).

Samples without depth (MPII) get the xy JSD and the 2D Euclidean term; per-joint terms are averaged over
the joint mask of the whole batch (sum / number of valid joints).
"""
from __future__ import annotations

import torch

from margipose.heatmaps import gaussian_targets, js_divergence


def _masked_mean(per_joint: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(per_joint.dtype)
    return (per_joint * m).sum() / m.sum().clamp_min(1.0)


def stage_loss(out: dict[str, torch.Tensor], target: torch.Tensor, mask: torch.Tensor, has_depth: torch.Tensor,
               jsd: bool = True, sigma: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of one stage. ``target`` (B,J,3) NDC, ``mask`` (B,J) bool, ``has_depth`` (B,) bool."""
    coords = out["coords"].float()
    target = target.float()
    d3 = has_depth.to(coords.dtype)[:, None]
    dist3 = torch.linalg.vector_norm(coords - target, dim=-1)
    dist2 = torch.linalg.vector_norm(coords[..., :2] - target[..., :2], dim=-1)
    euclid = d3 * dist3 + (1 - d3) * dist2
    parts = {"euclidean": _masked_mean(euclid, mask)}
    if jsd:
        x, y, z = target.unbind(-1)
        if "volume" in out:
            vol = out["volume"].float()
            shape = tuple(vol.shape[-3:])
            div3 = js_divergence(vol, gaussian_targets(target, shape, sigma), 3)
            div2 = js_divergence(vol.sum(-3), gaussian_targets(target[..., :2], shape[1:], sigma), 2)
            div = d3 * div3 + (1 - d3) * div2
        else:
            shape = tuple(out["xy"].shape[-2:])
            div = js_divergence(out["xy"].float(), gaussian_targets(target[..., :2], shape, sigma))
            zy = js_divergence(out["zy"].float(), gaussian_targets(torch.stack([z, y], -1), shape, sigma))
            xz = js_divergence(out["xz"].float(), gaussian_targets(torch.stack([x, z], -1), shape, sigma))
            div = div + d3 * (zy + xz)
        parts["jsd"] = _masked_mean(div, mask)
    return sum(parts.values()), parts


def margipose_loss(outputs: list[dict[str, torch.Tensor]], target: torch.Tensor, mask: torch.Tensor,
                   has_depth: torch.Tensor, jsd: bool = True, sigma: float = 1.0
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over stages (weight 1 each) of :func:`stage_loss`; returns the loss and float parts for logging."""
    total = torch.zeros((), device=target.device)
    log: dict[str, float] = {}
    for t, out in enumerate(outputs):
        loss, parts = stage_loss(out, target, mask, has_depth, jsd, sigma)
        total = total + loss
        for k, v in parts.items():
            log[f"s{t + 1}_{k}"] = float(v.detach())
    log["loss"] = float(total.detach())
    return total, log

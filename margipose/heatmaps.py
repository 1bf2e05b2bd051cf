"""Heatmap maths: flat softmax, DSNT soft-argmax, normalised Gaussian targets, Jensen-Shannon divergence.

Normalised coordinates run from -1 to 1 across the map's outer edges, so cell i of n has its centre at
(2i + 1)/n - 1 (Nibali et al., DSNT). Maps are (..., H, W) or volumes (..., D, H, W); coordinates list
the axes last-first: (x, y) for a map, (x, y, z) for a volume.
"""
from __future__ import annotations

import torch

EPS = 1e-24


def flat_softmax(logits: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """Softmax over the last ``ndim`` axes together (one distribution per map or volume)."""
    shape = logits.shape
    flat = logits.reshape(*shape[:-ndim], -1)
    dtype = torch.float32 if flat.dtype in (torch.float16, torch.bfloat16) else flat.dtype
    return torch.softmax(flat, dim=-1, dtype=dtype).reshape(shape)


def cell_centres(n: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised centres of n cells spanning [-1, 1]: -(n-1)/n ... (n-1)/n."""
    return (torch.arange(n, device=device, dtype=dtype) * 2 + 1) / n - 1


def soft_argmax(probs: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """Expected normalised coordinates of distributions over the last ``ndim`` axes -> (..., ndim).

    DSNT for maps (ndim=2), integral regression for volumes (ndim=3); the output lists x (last axis) first.
    """
    spatial = probs.shape[-ndim:]
    coords = []
    for k in range(ndim):  # k-th output coordinate is axis -(k+1)
        axis = probs.dim() - 1 - k
        other = tuple(a for a in range(probs.dim() - ndim, probs.dim()) if a != axis)
        marginal = probs.sum(dim=other) if other else probs
        centres = cell_centres(spatial[ndim - 1 - k], probs.device, probs.dtype)
        coords.append((marginal * centres).sum(-1))
    return torch.stack(coords, dim=-1)


def gaussian_targets(coords: torch.Tensor, shape: tuple[int, ...], sigma_px: float = 1.0) -> torch.Tensor:
    """Normalised Gaussians (each sums to 1 over the grid) centred at ``coords`` (..., len(shape)).

    ``shape`` is the grid, slowest axis first ((H, W) or (D, H, W)); ``coords`` list x first. sigma is
    in cells (1 cell = 2/n normalised units). A log-softmax keeps far-off-grid targets finite.
    """
    ndim = len(shape)
    logits = torch.zeros(coords.shape[:-1] + tuple(shape), device=coords.device, dtype=coords.dtype)
    for k in range(ndim):
        n = shape[ndim - 1 - k]
        sigma = sigma_px * 2.0 / n
        centres = cell_centres(n, coords.device, coords.dtype)
        d2 = -((centres - coords[..., k:k + 1]) ** 2) / (2 * sigma ** 2)  # (..., n)
        view = list(coords.shape[:-1]) + [1] * ndim
        view[len(coords.shape) - 1 + (ndim - 1 - k)] = n
        logits = logits + d2.reshape(view)
    return flat_softmax(logits, ndim).to(coords.dtype)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """KL(p || q) over the last ``ndim`` axes; 0 log 0 = 0."""
    terms = torch.where(p > 0, p * (torch.log(p.clamp_min(EPS)) - torch.log(q.clamp_min(EPS))), torch.zeros_like(p))
    return terms.flatten(-ndim).sum(-1)


def js_divergence(p: torch.Tensor, q: torch.Tensor, ndim: int = 2) -> torch.Tensor:
    """Jensen-Shannon divergence (nats) between distributions over the last ``ndim`` axes; symmetric, 0 iff equal."""
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, ndim) + 0.5 * kl_divergence(q, m, ndim)

"""The figure `margipose predict` saves: the crop, the 3D skeleton, and the marginal heatmaps."""
from __future__ import annotations

import os

import numpy as np

from posebench.io_utils import atomic_path
from posebench.skeleton import BONES, ROOT


def pose_figure(crop: np.ndarray, joints: np.ndarray, maps: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Save crop | 3D skeleton (root-relative mm) | xy, zy, xz heatmaps summed over joints (or a volume's
    three projections) to ``path`` (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "volume" in maps:  # (J,D,H,W) -> the three marginals
        v = maps["volume"]
        maps = {"xy": v.sum(1), "zy": v.sum(3).transpose(0, 2, 1), "xz": v.sum(2)}
    fig = plt.figure(figsize=(15, 3.2))
    ax = fig.add_subplot(1, 5, 1)
    ax.imshow(crop)
    ax.set_title("input crop")
    ax.axis("off")
    ax3 = fig.add_subplot(1, 5, 2, projection="3d")
    p = joints - joints[ROOT]
    for a, b in BONES:  # camera axes -> plot axes: x right, z into the page, y down
        ax3.plot([p[a, 0], p[b, 0]], [p[a, 2], p[b, 2]], [-p[a, 1], -p[b, 1]], "-o", ms=2)
    r = max(float(np.abs(p).max()), 1.0)
    ax3.set(xlim=(-r, r), ylim=(-r, r), zlim=(-r, r), xlabel="x", ylabel="z", zlabel="-y", title="3D pose (mm)")
    for i, name in enumerate(("xy", "zy", "xz")):
        a = fig.add_subplot(1, 5, 3 + i)
        a.imshow(maps[name].sum(0), cmap="magma")
        a.set_title(f"{name} heatmaps")
        a.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format=str(path).rsplit(".", 1)[-1] if "." in str(path) else "png")
    plt.close(fig)

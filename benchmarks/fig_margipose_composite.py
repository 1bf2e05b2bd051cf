"""Picture of MargiPose's MPI-INF-3DHP compositing augmentation (docs/img/margipose-composite.png).

    python benchmarks/fig_margipose_composite.py [--out docs/img/margipose-composite.png]

A look-alike MPI-INF-3DHP training tree (`posebench sample mpi3dhp --split train`, with its FGmasks and
ChairMasks videos) is prepared with its masks; its rows are relabelled S8/Seq1, a sequence where the reference
allows all three composites. Backgrounds are procedural colour fields and textures procedural stripes and
checks (stand-ins for the authors' photographs, which are not redistributed). Top row: the crops without
augmentation; below: training samples with the full reference augmentation (compositing, then geometry and
colour), one per epoch.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _make_layers(root: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    bg, tex = root / "backgrounds", root / "textures"
    bg.mkdir(), tex.mkdir()
    yy, xx = np.mgrid[0:900, 0:1100] / 900.0
    for i in range(4):
        f = rng.uniform(2, 8, 3)
        rgb = 0.5 + 0.45 * np.stack([np.sin(f[0] * xx + i), np.sin(f[1] * yy + 2 * i), np.sin(f[2] * (xx + yy))], -1)
        Image.fromarray((rgb * 255).astype(np.uint8)).save(bg / f"field{i}.jpg", quality=92)
    yy, xx = np.mgrid[0:768, 0:768]
    Image.fromarray((127 + 120 * np.sign(np.sin(xx / 6))).astype(np.uint8)).save(tex / "stripes.png")
    Image.fromarray((127 + 120 * np.sign(np.sin(xx / 8) * np.sin(yy / 8))).astype(np.uint8)).save(tex / "checks.png")
    return bg, tex


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/img/margipose-composite.png")
    ap.add_argument("--columns", type=int, default=4)
    args = ap.parse_args()
    from posebench.data import read_prepared, write_prepared
    from posebench.prepare.mpi3dhp_train import prepare_train
    from posebench.sample import mpi3dhp as sample

    from margipose.data import Pose3DDataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sample.write_tree(root / "raw", seed=0, split="train", size=384)
        prepare_train(root / "raw", root / "data", height=0, stride=10, progress=False, echo=lambda *a: None)
        data = read_prepared(root / "data" / "mpi3dhp" / "train.h5")
        columns = {k: np.asarray(v) for k, v in data.columns.items()}
        columns["sequence"] = np.full(len(data), "S8/Seq1", dtype=object)
        path = root / "data" / "mpi3dhp" / "demo.h5"
        write_prepared(path, columns, {"dataset": "mpi3dhp", "split": "demo"})
        bg, tex = _make_layers(root, np.random.default_rng(1))
        plain = Pose3DDataset(path, augment=False)
        aug = Pose3DDataset(path, augment=True, backgrounds=bg, textures=tex, seed=3)
        n = args.columns
        rows = [[plain[i]["image"] for i in range(n)]]
        for epoch in range(2):
            aug.epoch = epoch
            rows.append([aug[i]["image"] for i in range(n)])
    size = rows[0][0].shape[-1]
    canvas = Image.new("RGB", (n * size, len(rows) * size + 18 * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        y = r * (size + 18)
        draw.text((4, y + 3), "no augmentation" if r == 0 else f"augmented (epoch {r})", fill="black")
        for c, t in enumerate(row):
            canvas.paste(Image.fromarray((t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)),
                         (c * size, y + 18))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()

"""`posebench sample DATASET --out DIR`: write a look-alike raw release (one writer module per dataset)."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import click

from posebench.lookalike import mark_tree
from posebench.sample.body import DEFAULT_KNEE_NECK

WRITERS = {"h36m": "posebench.sample.h36m", "mpi3dhp": "posebench.sample.mpi3dhp", "mpii": "posebench.sample.mpii"}


@click.command("sample")
@click.argument("dataset", type=click.Choice(sorted(WRITERS)))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the tree into (created; existing files are replaced).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed: the same seed writes the same files.")
@click.option("--full", is_flag=True, help="Every subject, sequence and camera (small size, few frames).")
@click.option("--knee-neck", type=click.FloatRange(min=0, min_open=True, max=5000), default=DEFAULT_KNEE_NECK, show_default=True,
              help="Universal skeleton's knee-neck length in mm (h36m, mpi3dhp).")
@click.option("--rigid-spine", is_flag=True,
              help="Hold the universal knee-neck length fixed per frame "
                   "(with --knee-neck 920 the 920 mm rule is an identity).")
@click.option("--size", type=int, default=None, help="Image width in px (default: each writer's, <= 128).")
@click.option("--gop", type=click.IntRange(min=1), default=250, show_default=True, help="Key-frame spacing of the H.264 videos (h36m).")
@click.option("--labels", type=click.Choice(["original", "corrected"]), default="original", show_default=True,
              help="Which MPI-INF-3DHP test label release to write (mpi3dhp).")
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="all", show_default=True,
              help="Which MPI-INF-3DHP parts to write (mpi3dhp).")
def sample(dataset: str, out: Path, seed: int, full: bool, knee_neck: float, rigid_spine: bool,
           size: int | None, gop: int, labels: str, split: str) -> None:
    """Write a look-alike DATASET release (h36m, mpi3dhp, mpii) under --out.

    The tree has the official layout, names and file formats, with poses from a kinematic prior
    rendered as coloured limbs at a reduced resolution; posebench-sample.json records what was made.

    \b
    Examples:
      posebench sample h36m --out raw/h36m                       # S1, S9, S11; a few seconds
      posebench sample h36m --out raw/h36m-full --full --size 64
      posebench sample h36m --out raw/h36m --knee-neck 920 --rigid-spine
      posebench sample mpi3dhp --out raw/mpi3dhp --labels original --split test
      posebench sample mpii --out raw/mpii --seed 3
    """
    try:
        module = importlib.import_module(WRITERS[dataset])
    except ImportError as e:
        raise click.ClickException(f"the {dataset} writer is unavailable: {e}") from None
    kw: dict = {"seed": seed, "full": full}
    if size is not None:
        kw["size"] = size
    if dataset == "h36m":
        kw.update(gop=gop, knee_neck=knee_neck, rigid_spine=rigid_spine)
    elif dataset == "mpi3dhp":
        kw.update(labels=labels, split=split, knee_neck=knee_neck, rigid_spine=rigid_spine)
    try:
        summary = module.write_tree(out, **kw)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    mark_tree(out)  # prepared files, runs and reports made from this tree say it is look-alike
    files = [p for p in out.rglob("*") if p.is_file()]
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    seconds = summary.get("seconds") if isinstance(summary, dict) else None
    click.echo(f"wrote {dataset} look-alike tree to {out}: {len(files)} files, {size_mb:.1f} MB"
               + (f", {seconds:.1f} s" if seconds is not None else ""))
    if isinstance(summary, dict) and summary.get("corrupt"):
        click.echo("deliberately corrupt (as in real downloads): " + json.dumps(summary["corrupt"]))

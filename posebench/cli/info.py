"""`posebench info FILE`: what a prepared file holds (counts per group, images, sources, content hash, scale)."""
from __future__ import annotations

import json
import os
from typing import Any

import click
import numpy as np

GROUP_COLUMNS = ("subject", "action", "sequence", "take", "camera", "activity", "scene")


def _counts(values: np.ndarray) -> dict[str, int]:
    uniq, n = np.unique(np.asarray(values).astype(str) if values.dtype.kind == "O" else values, return_counts=True)
    return {str(u): int(c) for u, c in zip(uniq.tolist(), n.tolist())}


def knee_neck_stats(joints: np.ndarray) -> dict[str, float]:
    """Distribution of the knee-neck length (mm) over rows: the 920 mm rule's quantity."""
    from posebench.skeleton import knee_neck_length

    v = knee_neck_length(joints)
    v = v[np.isfinite(v)]
    if not len(v):
        return {}
    q = np.percentile(v, [0, 5, 50, 95, 100])
    return {"mean": float(v.mean()), "sd": float(v.std()), "min": float(q[0]), "p5": float(q[1]),
            "median": float(q[2]), "p95": float(q[3]), "max": float(q[4])}


def info_dict(path: str | os.PathLike) -> dict[str, Any]:
    """The facts `posebench info` prints, as a JSON-able dict."""
    from posebench.data import read_prepared

    data = read_prepared(path)
    a = data.attrs
    out: dict[str, Any] = {
        "path": str(path), "dataset": data.dataset, "split": data.split, "kind": a.get("kind", "3d"),
        "labels": data.labels, "rows": len(data), "content_hash": data.content_hash,
        "format_version": a.get("format_version"), "posebench_version": a.get("posebench_version"),
        "columns": sorted(data.columns),
        "rows_with_images": int((np.asarray(data["image"]).astype(str) != "").sum()),
        # A column that is empty on every row (e.g. MPI-INF-3DHP's `action`) says nothing: left out.
        "counts": {c: _counts(data[c]) for c in GROUP_COLUMNS
                   if c in data and not (np.asarray(data[c]).astype(str) == "").all()},
    }
    if "valid" in data:
        out["valid_rows"] = int(np.asarray(data["valid"]).sum())
    target = "joints3d_univ" if "joints3d_univ" in data else "joints3d" if "joints3d" in data else None
    if target and len(data):
        out["knee_neck_mm"] = {"column": target, **knee_neck_stats(data[target])}
    out["sources"] = a.get("sources")
    return out


def _format(info: dict[str, Any]) -> str:
    lines = [f"{info['path']}",
             f"  dataset {info['dataset']}  split {info['split']}  kind {info['kind']}"
             + (f"  labels {info['labels']}" if info["labels"] else ""),
             f"  rows {info['rows']}  with images {info['rows_with_images']}"
             + (f"  valid {info['valid_rows']}" if "valid_rows" in info else ""),
             f"  content hash {info['content_hash']}",
             f"  format {info['format_version']}  written by posebench {info['posebench_version']}",
             f"  columns: {', '.join(info['columns'])}"]
    for col, counts in info["counts"].items():
        items = sorted(counts.items(), key=lambda kv: (len(kv[0]), kv[0]) if col == "subject" else kv[0])
        lines.append(f"  per {col} ({len(counts)}): " + ", ".join(f"{k}: {v}" for k, v in items))
    if "knee_neck_mm" in info:
        k = info["knee_neck_mm"]
        lines.append(f"  knee-neck length on {k['column']} (mm): mean {k['mean']:.1f}  sd {k['sd']:.1f}  "
                     f"min {k['min']:.1f}  p5 {k['p5']:.1f}  median {k['median']:.1f}  p95 {k['p95']:.1f}  "
                     f"max {k['max']:.1f}")
    if info["sources"] is not None:
        src = info["sources"]
        text = json.dumps(src, indent=2, sort_keys=True) if isinstance(src, (dict, list)) else str(src)
        lines.append("  sources: " + text.replace("\n", "\n  "))
    return "\n".join(lines)


@click.command("info", epilog="""\b
Examples:
  posebench info data/h36m/test.h5
  posebench info data/mpi3dhp/test-corrected.h5 --json
""")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
def info(file: str, as_json: bool) -> None:
    """What a prepared file holds: counts per subject/action/sequence/camera, images, sources, hash."""
    try:
        facts = info_dict(file)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(facts, indent=2, sort_keys=True) if as_json else _format(facts))

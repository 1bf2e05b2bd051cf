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


def _refuse_other_kinds(path: str | os.PathLike) -> None:
    """A run's errors file or a predictions/template file given to `info` is named for what it is."""
    from posebench.data import PreparedFileError
    from posebench.h5safe import UnsafeFileError, open_h5

    try:
        with open_h5(path, "prepared file") as f:
            keys, run_id = set(f.keys()), f.attrs.get("run_id")
    except UnsafeFileError as e:
        raise PreparedFileError(str(e)) from None
    if run_id is not None and "errors" in keys:
        run_id = run_id.decode() if isinstance(run_id, bytes) else str(run_id)
        raise PreparedFileError(f"{path} is the per-row errors file of run {run_id!r}, not a prepared file; "
                                f"see `posebench report {run_id}`")
    if "index" in keys and "subject" not in keys:
        raise PreparedFileError(f"{path} is a predictions or template file (it has 'index'), not a prepared file; "
                                "`posebench info` describes the files `posebench prepare` writes")


def info_dict(path: str | os.PathLike, verify: bool = False) -> dict[str, Any]:
    """The facts `posebench info` prints, as a JSON-able dict; ``verify`` checks every column against its hash."""
    from posebench.data import read_prepared

    _refuse_other_kinds(path)
    data = read_prepared(path, verify=verify)
    a = data.attrs
    out: dict[str, Any] = {
        "path": str(path), "dataset": data.dataset, "split": data.split, "kind": a.get("kind", "3d"),
        "labels": data.labels, "rows": len(data), "content_hash": a.get("content_hash"),
        "content_hash_verified": bool(data.verified),
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
             f"  content hash {info['content_hash']}"
             + ("  (verified: every column matches)" if info["content_hash_verified"]
                else "  (recorded, not verified: run with --verify)"),
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
  posebench info data/h36m/test.h5 --verify       # check the arrays against the content hash
""")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
@click.option("--verify", is_flag=True, help="Check every column against the file's recorded content hashes "
                                             "(a mismatch is an error naming the column).")
def info(file: str, as_json: bool, verify: bool) -> None:
    """What a prepared file holds: counts per subject/action/sequence/camera, images, sources, hash."""
    try:
        facts = info_dict(file, verify=verify)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(facts, indent=2, sort_keys=True) if as_json else _format(facts))

"""Results: build a scored run (`build_result`) and the one import path for the run store.

`Result`, the typed run JSON and saving live in `posebench.run_result`; loading, listing and looking up stored
runs in `posebench.run_lookup`; both are re-exported here, so `from posebench.results import ...` keeps working.
"""
from __future__ import annotations

import datetime as _dt
import secrets
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from posebench import __version__
from posebench.protocols import Protocol, check_plain_name
from posebench.run_lookup import (RunLookupError, RunSkippedWarning, list_runs, load_result, resolve_run,
                                  run_files)
from posebench.run_result import (DEFAULT_RESULTS, FORMAT_VERSION, RESULTS_ENV, DataMeta, ModelMeta,
                                  PredictionsMeta, Result, ResultFileError, RunMeta, aggregate, display_names,
                                  per_sample, results_root)

__all__ = ["DEFAULT_RESULTS", "FORMAT_VERSION", "RESULTS_ENV", "DataMeta", "ModelMeta", "PredictionsMeta",
           "Result", "ResultFileError", "RunLookupError", "RunMeta", "RunSkippedWarning", "aggregate",
           "build_result", "display_names", "git_hash", "list_runs", "load_result", "new_run_id", "per_sample",
           "resolve_run", "results_root", "run_files"]


def git_hash() -> str | None:
    """The commit of the posebench checkout in use, when it runs from a git clone."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def new_run_id(protocol: str, who: str) -> str:
    """Unique, sortable and readable: `<protocol>--<model>--<UTC time>-<random>` (no clobbering)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dt%H%M%S")  # lower case: run ids are plain [a-z0-9._-]
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "-" for c in who.lower())[:60]
    safe = safe.strip(".-_").replace("..", "-") or "run"
    return check_plain_name(f"{protocol}--{safe}--{stamp}-{secrets.token_hex(3)}", "run id")


def build_result(protocol: Protocol, data, rows: np.ndarray, errors: dict[str, np.ndarray],
                 codes: Mapping[str, tuple[np.ndarray, np.ndarray]], predictions: dict | None = None,
                 model: dict | None = None, per_row: Mapping[str, np.ndarray] | None = None) -> Result:
    """Assemble a Result with its summary, breakdowns and provenance (``codes``: key -> (codes, labels)).

    ``per_row``: each metric's exact per-row values in summary units, when ``errors`` are the float32 stored
    ones (``scoring.score_rows``); the summary and breakdowns are taken from them."""
    who = (model or {}).get("name") or Path(str((predictions or {}).get("path") or "predictions")).stem
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "run_id": new_run_id(protocol.name, who),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "protocol": protocol.to_dict(),
        "data": {"path": str(data.path) if data.path else None, "dataset": data.dataset, "split": data.split,
                 "labels": data.labels, "content_hash": data.content_hash, "rows": int(data.attrs.get("rows", len(data))),
                 "hash_verified": bool(getattr(data, "verified", False)),
                 **({"lookalike": True} if getattr(data, "lookalike", False) else {})},
        "rows_scored": int(len(rows)),
        "posebench_version": __version__,
        "git_hash": git_hash(),
        "units": {m.name: m.unit for m in protocol.metrics},
    }
    if model is not None:
        meta["model"] = model
    else:
        meta["predictions"] = predictions or {}
    result = Result(meta, protocol, rows.astype(np.int64), errors, codes=codes, per_row=per_row)
    meta["summary"] = {m: result.aggregate(m) for m in protocol.metric_names}
    meta["breakdowns"] = {}
    for key in protocol.breakdowns:
        if key in codes and any(str(v) for v in codes[key][1].tolist()):  # an empty grouping has no table
            meta["breakdowns"][key] = result.group_rows(key)
    return result


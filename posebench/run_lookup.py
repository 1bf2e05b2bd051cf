"""Stored runs read back and found: `load_result` (with tamper checks), `list_runs`, `resolve_run`.

A run's JSON is checked against its aggregates file (and, with ``verify="full"``, its errors file); where they
disagree the Result's ``problems`` says so and the run is never ranked. Import these from `posebench.results`.
"""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from posebench import aggregates as _agg
from posebench import runstore as _store
from posebench.errors import PosebenchError
from posebench.io_utils import file_sha256
from posebench.protocols import Protocol
from posebench.run_result import FORMAT_VERSION, Result, ResultFileError, results_root


def load_result(path: str | os.PathLike, verify: str = "aggregates") -> Result:
    """Load a stored run from its JSON; its files are checked against the JSON and ``problems`` says where not.

    ``verify="aggregates"`` (cheap, whatever the row count): the aggregates file's hash, and the summary against
    the figures recomputed from it. ``"full"`` also hashes the errors file and recomputes the aggregates from it.
    A format-1 run (no aggregates file) is checked against its errors. Unreadable files raise ResultFileError.
    """
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ResultFileError(f"{path}: not a readable result JSON ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("protocol"), dict) or "run_id" not in meta \
            or not isinstance(meta.get("errors_file"), str):
        raise ResultFileError(f"{path}: not a posebench run (needs run_id, protocol and errors_file)")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ResultFileError(f"{path}: result format_version {version!r} is not a whole number")
    if version > FORMAT_VERSION:
        raise ResultFileError(f"{path}: result format {version} is newer than this posebench ({FORMAT_VERSION})")
    meta = _upgrade(meta)
    try:
        protocol = Protocol.from_dict(meta["protocol"])
    except (ValueError, KeyError, TypeError) as e:
        raise ResultFileError(f"{path}: its protocol echo is unusable ({e})") from None
    errors_path = path.parent / Path(meta["errors_file"]).name
    result = Result(meta, protocol, path=path, errors_path=errors_path)
    try:
        if version >= 2:
            agg_path = path.parent / Path(str(meta.get("aggregates_file", ""))).name
            if file_sha256(agg_path) != meta.get("aggregates_sha256"):
                result.problems.append(f"{agg_path.name} is not the aggregates file the run recorded (hash differs)")
            result._aggregates = _agg.read(agg_path)
            if verify == "full":
                if file_sha256(errors_path) != meta.get("errors_sha256"):
                    result.problems.append(f"{errors_path.name} is not the errors file the run recorded (hash differs)")
                fresh = _agg.compute(protocol, result.index, result.errors, result.codes)
                if not _same_cells(fresh, result._aggregates):
                    result.problems.append("its aggregates do not match its per-row errors")
        result.problems += _store.check_summary(meta.get("summary") or {}, result.aggregates.summary(), protocol)
    except (OSError, _agg.AggregatesError, _store.RunFileError) as e:
        raise ResultFileError(f"{path}: {e}") from None
    return result


def _same_cells(a: _agg.Aggregates, b: _agg.Aggregates) -> bool:
    if a.index_sha256 != b.index_sha256 or set(a.metrics) != set(b.metrics):
        return False
    return all(np.array_equal(a.metrics[m].counts, b.metrics[m].counts)
               and np.allclose(a.metrics[m].sums, b.metrics[m].sums, rtol=1e-12, atol=0) for m in a.metrics)


def _upgrade(meta: dict[str, Any]) -> dict[str, Any]:
    """Bring older result JSON up to the current format (fields added later get their neutral value)."""
    meta.setdefault("breakdowns", {})
    meta.setdefault("units", {})
    if not isinstance(meta.get("summary"), dict):
        meta["summary"] = {}
    return meta


def list_runs(results_dir: str | os.PathLike | None = None, protocol: str | None = None,
              verify: str = "aggregates", on_skip: Callable[[str], None] | None = None) -> list[Result]:
    """Stored runs under RESULTS/runs/, oldest first (only ``protocol``'s: found by file name, checked by content).

    A run file that cannot be read is skipped: ``on_skip(message naming it)``, by default a RunSkippedWarning.
    """
    runs = results_root(results_dir) / "runs"
    if not runs.is_dir():
        return []
    out = []
    for p in run_files(runs, f"{protocol}--*" if protocol else "*"):
        try:
            r = load_result(p, verify=verify)
        except ResultFileError as e:
            message = f"skipped a run that cannot be read: {e}"
            if on_skip is None:
                warnings.warn(message, RunSkippedWarning, stacklevel=2)
            else:
                on_skip(message)
            continue
        if protocol is None or r.protocol.name == protocol:
            out.append(r)
    return out


def run_files(runs: Path, pattern: str = "*") -> list[Path]:
    """The run JSONs in a runs folder whose name matches ``pattern`` + ".json", sorted."""
    return sorted(runs.glob(f"{pattern}.json"))


class RunSkippedWarning(UserWarning):
    """A stored run could not be read and was left out."""


class RunLookupError(PosebenchError, LookupError):
    """A run named on the command line does not exist (or the name is ambiguous)."""


def resolve_run(spec: str | os.PathLike, results_dir: str | os.PathLike | None = None,
                verify: str = "aggregates") -> Result:
    """A run by JSON path, run id, or unique run-id prefix under RESULTS/runs/ (``verify``: see load_result)."""
    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        return load_result(path, verify=verify)
    runs = results_root(results_dir) / "runs"
    exact = runs / f"{spec}.json"
    if exact.is_file():
        return load_result(exact, verify=verify)
    matches = run_files(runs, f"{spec}*") if runs.is_dir() else []
    if len(matches) == 1:
        return load_result(matches[0], verify=verify)
    if len(matches) > 1:
        raise RunLookupError(f"run {str(spec)!r} is ambiguous in {runs}: {', '.join(m.stem for m in matches[:5])}")
    raise RunLookupError(f"no run {str(spec)!r} in {runs} (give a run id, a unique prefix, or a .json path)")

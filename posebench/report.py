"""Tables (CSV / Markdown / LaTeX / JSON), published figures, leaderboard assembly and the per-run report.

The leaderboard is generated from stored runs (their per-row errors) and `published.csv`: one table per
protocol (and label release), sorted by the headline metric in its direction. A local run is ranked with a
published row only when every comparability column matches; other published rows are shown unranked with the
difference named; runs of an older protocol version or other data are flagged stale and not ranked.
"""
from __future__ import annotations

import importlib.resources
import io
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from posebench.io_utils import write_text_atomic
from posebench.skeleton import JOINT_SETS, MPI3DHP_GROUPS

PUBLISHED_COLUMNS = ("method", "citation", "protocol", "metric", "value", "unit", "joints", "alignment",
                     "reflections", "frames", "aggregation", "labels", "scaling", "multicrop", "training_data",
                     "source", "quoted", "note")
COMPARABILITY = ("joints", "alignment", "reflections", "frames", "aggregation", "labels", "scaling", "multicrop")
PROSE_KEYS = ("title", "description", "citation", "deviations", "source", "aliases")
FORMATS = ("md", "csv", "latex", "json")


class PublishedFileError(ValueError):
    """published.csv is malformed."""


class RunLookupError(LookupError):
    """A run named on the command line does not exist (or the name is ambiguous)."""


# --- table rendering ----------------------------------------------------------------------------------------

def _cell(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{digits}f}"
    return str(v)


def to_markdown(df: pd.DataFrame, digits: int = 1, index: bool = True) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped; numeric columns right-aligned)."""
    frame = df.reset_index() if index else df
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    head = "| " + " | ".join(esc(c) for c in frame.columns) + " |"
    sep = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    rows = ["| " + " | ".join(esc(_cell(v, digits)) for v in r) + " |" for r in frame.itertuples(index=False)]
    return "\n".join([head, sep, *rows]) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--",
                  "†": r"$^\dagger$", "≠": r"$\neq$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(df: pd.DataFrame, digits: int = 1, index: bool = True) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``): one row per line, ``&``-separated, ``\\\\``-ended."""
    frame = df.reset_index() if index else df
    spec = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in frame.columns)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(latex_escape(c) for c in frame.columns) + " \\\\", "\\midrule"]
    lines += [" & ".join(latex_escape(_cell(v, digits)) for v in r) + " \\\\" for r in frame.itertuples(index=False)]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_csv(df: pd.DataFrame, index: bool = True) -> str:
    return df.to_csv(index=index, lineterminator="\n")


def to_json(df: pd.DataFrame, index: bool = True) -> str:
    frame = df.reset_index() if index else df
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
               for r in frame.to_dict(orient="records")]
    return json.dumps(records, indent=2, default=_json_default) + "\n"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def render(df: pd.DataFrame, fmt: str, digits: int = 1, index: bool = True) -> str:
    """One table in one of FORMATS."""
    if fmt == "md":
        return to_markdown(df, digits, index)
    if fmt == "latex":
        return to_latex(df, digits, index)
    if fmt == "csv":
        return to_csv(df, index)
    if fmt == "json":
        return to_json(df, index)
    raise ValueError(f"unknown table format {fmt!r} (one of {', '.join(FORMATS)})")


# --- comparability ------------------------------------------------------------------------------------------

def joints_name(joints: tuple[int, ...]) -> str:
    """`all17`, `vnect14`, `no_root16`, or the count, for a metric's scored joints."""
    for name, label in (("all", "all17"), ("vnect14", "vnect14"), ("no_root", "no_root16")):
        if tuple(joints) == JOINT_SETS[name]:
            return label
    return f"{len(joints)} joints"


def frames_description(protocol: Any) -> str:
    """Which rows a protocol scores, in the words published.csv's `frames` column uses."""
    sel = protocol.selection
    parts = []
    if sel.subjects:
        parts.append("+".join(f"S{s}" for s in sel.subjects))
    if sel.frame_stride > 1:
        parts.append(f"every {sel.frame_stride}th frame")
    elif not sel.valid_only:
        parts.append("every frame")
    if sel.valid_only:
        parts.append("valid frames only")
    for ex in sel.exclude:
        bits = [f"S{ex.subject}" if ex.subject is not None else None, ex.sequence, ex.action,
                f"cam {ex.camera}" if ex.camera is not None else None]
        parts.append("minus " + "/".join(b for b in bits if b))
    return ", ".join(parts)


def comparability(protocol: Any, metric: str, labels: str | None, multicrop: bool = False) -> dict[str, str]:
    """The comparability columns of a protocol's metric (as a local run scored it)."""
    m = protocol.metric(metric)
    align = "procrustes" if m.align.startswith("procrustes") else m.align
    reflections = {"procrustes": "excluded", "procrustes_reflect": "allowed"}.get(m.align, "n/a")
    scaling = ("knee_neck_920" if protocol.rescale == "knee_neck_920"
               else "gt_root_depth" if "root_depth" in protocol.granted else "none")
    return {"joints": joints_name(m.joints), "alignment": align, "reflections": reflections,
            "frames": frames_description(protocol), "aggregation": m.aggregate, "labels": labels or "n/a",
            "scaling": scaling, "multicrop": "yes" if multicrop else "no"}


def differences(row: dict[str, str], reference: dict[str, str]) -> list[str]:
    """What keeps a row from being comparable: the columns its source does not state, then `column theirs vs ours`."""
    q = lambda v: f"'{v}'" if " " in str(v) else str(v)  # noqa: E731
    unstated = [c for c in COMPARABILITY if str(row.get(c, "not stated")) == "not stated"]
    out = [f"not stated: {', '.join(unstated)}"] if unstated else []
    out += [f"{c} {q(row[c])} vs {q(reference[c])}" for c in COMPARABILITY
            if c not in unstated and str(row[c]) != reference[c]]
    return out


# --- published figures --------------------------------------------------------------------------------------

def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """published.csv (the shipped copy unless ``path``), checked: required columns, numeric values, known metrics."""
    from posebench.protocols import METRIC_KINDS

    if path is None:
        text = importlib.resources.files("posebench.published_data").joinpath("published.csv").read_text("utf-8")
        where = "posebench.published_data/published.csv"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise PublishedFileError(f"{where}: cannot read ({e})") from None
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as e:
        raise PublishedFileError(f"{where}: not a readable CSV ({e})") from None
    missing = [c for c in PUBLISHED_COLUMNS if c not in df.columns]
    if missing:
        raise PublishedFileError(f"{where}: missing columns {', '.join(missing)}")
    values = pd.to_numeric(df["value"], errors="coerce")
    if values.isna().any():
        bad = int(values.isna().idxmax())
        raise PublishedFileError(f"{where}: row {bad + 2} has a non-numeric value {df['value'][bad]!r}")
    unknown = sorted(set(df["metric"]) - set(METRIC_KINDS))
    if unknown:
        raise PublishedFileError(f"{where}: unknown metrics {', '.join(unknown)} (known: {', '.join(METRIC_KINDS)})")
    df["value"] = values
    return df


# --- leaderboard --------------------------------------------------------------------------------------------

@dataclass
class Board:
    """One leaderboard table: a protocol (and label release), its rows in display order."""

    protocol: Any
    labels: str | None
    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        lab = f", {self.labels} labels" if self.labels and len(self.protocol.labels) > 1 else ""
        return f"{self.protocol.name} v{self.protocol.version}{lab}"

    def to_dict(self) -> dict[str, Any]:
        h = self.protocol.metric(self.protocol.headline)
        return {"protocol": self.protocol.name, "version": self.protocol.version, "labels": self.labels,
                "title": self.protocol.title, "headline": h.name, "higher_is_better": h.higher_is_better,
                "notes": self.notes, "rows": json.loads(to_json(self.rows, index=False))}


def run_label(result: Any) -> str:
    """A run's display name: its model (with checkpoint/options worth naming) or its predictions file."""
    model = result.meta.get("model")
    if model:
        name = str(model.get("name") or "model")
        if (model.get("options") or {}).get("multicrop"):
            name += " (multi-crop)"
        return name
    pred = result.meta.get("predictions") or {}
    return Path(str(pred.get("path") or "predictions")).stem


def _cluster_key(result: Any) -> str | None:
    key = result.protocol.cluster
    if key and key in result.groups:
        return key
    return next((k for k in ("take", "sequence") if k in result.groups), None)


def metric_interval(result: Any, metric: str, n_boot: int = 2000, seed: int = 0):
    """Cluster-bootstrap interval of one of a run's metrics, with the protocol's aggregation, from the run's
    aggregates (no per-row data is read; no warning raised: the returned Interval carries it)."""
    from posebench.stats import FewClustersWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        return result.aggregates.interval(metric, n_boot=n_boot, seed=seed)


def _protocol_changes(result: Any, current: Any) -> list[str]:
    """Keys whose value differs between a run's protocol echo and the current protocol (prose and keys only one
    side has are ignored: a field added to Protocol later changes no old run's meaning)."""
    old = result.meta["protocol"]
    new = json.loads(json.dumps(current.to_dict()))
    return sorted(k for k in (set(old) & set(new)) - set(PROSE_KEYS) if old[k] != new[k])


def stale_reasons(result: Any, current: Any, reference_hash: str | None) -> list[str]:
    """Why a run cannot be ranked under the current protocol: older version, changed definition, other data."""
    reasons = []
    version = int(result.meta["protocol"].get("version", 0))
    if version != current.version:
        reasons.append(f"protocol v{version}, current is v{current.version}")
    else:
        changed = _protocol_changes(result, current)
        if changed:
            reasons.append(f"protocol definition changed without a version bump ({', '.join(changed)})")
    data_hash = (result.meta.get("data") or {}).get("content_hash")
    if reference_hash and data_hash != reference_hash:
        reasons.append(f"data hash {str(data_hash)[:10]} is not the current {reference_hash[:10]}")
    return reasons


def current_data(runs: list[Any], current: Any) -> tuple[str | None, str]:
    """The data hash runs are judged against when no data folder is given, and how it was chosen.

    The prepared file at the newest run's recorded path, if it is still there; else the hash most runs of the
    current protocol version scored (ties: the newest run's).
    """
    from collections import Counter

    from posebench.data import PreparedFileError, read_attrs

    fresh = sorted((r for r in runs if int(r.meta["protocol"].get("version", 0)) == current.version),
                   key=lambda r: str(r.meta.get("created", "")), reverse=True)
    for r in fresh:
        path = (r.meta.get("data") or {}).get("path")
        if path and Path(path).is_file():
            try:
                h = read_attrs(path).get("content_hash")
            except PreparedFileError:
                continue
            if h:
                return str(h), f"current data: {path} (hash {str(h)[:10]})"
    hashes = [(r.meta.get("data") or {}).get("content_hash") for r in fresh]
    counts = Counter(h for h in hashes if h)
    if not counts:
        return None, ""
    top = max(counts.values())
    h = next(h for h in hashes if counts.get(h) == top)
    return h, f"current data: hash {h[:10]}, scored by {top} of {len(fresh)} runs of v{current.version}"


def _board_key(result: Any) -> tuple[str, str | None]:
    labels = (result.meta.get("data") or {}).get("labels")
    return result.protocol.name, labels if len(result.protocol.labels) > 1 else (labels or None)


def build_leaderboard(runs: list[Any], published: pd.DataFrame | None = None, protocol: str | None = None,
                      data_hashes: dict[str, str] | None = None, n_boot: int = 2000) -> list[Board]:
    """Leaderboard tables for every protocol with runs or published rows (or just ``protocol``)."""
    from posebench.protocols import ProtocolError, load_protocol

    published = load_published() if published is None else published
    keys: dict[tuple[str, str | None], list[Any]] = {}
    for r in runs:
        keys.setdefault(_board_key(r), []).append(r)
    for name in published["protocol"].unique():
        try:
            p = load_protocol(name)
        except ProtocolError:
            continue
        for lab in (p.labels if p.labels else (None,)):
            if len(p.labels) <= 1 or not published[(published.protocol == name) & (published.labels == lab)].empty:
                keys.setdefault((name, lab), [])
    boards = []
    for (name, labels), group in sorted(keys.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if protocol is not None:
            wanted = load_protocol(protocol).name
            if name != wanted:
                continue
        try:
            current = load_protocol(name)
        except ProtocolError:
            current = group[-1].protocol  # a protocol no longer shipped: judge against the newest run's echo
        hashes = data_hashes or {}
        boards.append(_board(current, labels, group, published, hashes.get(f"{name}:{labels}", hashes.get(name)),
                             n_boot))
    return boards


def _board(current: Any, labels: str | None, runs: list[Any], published: pd.DataFrame,
           reference_hash: str | None, n_boot: int) -> Board:
    head = current.metric(current.headline)
    notes = []
    if reference_hash is None:
        reference_hash, why = current_data(runs, current)
        if reference_hash:
            notes.append(why)
    lookalike = any((r.meta.get("data") or {}).get("lookalike") and (r.meta.get("data") or {}).get("content_hash")
                    == reference_hash for r in runs)
    if lookalike:
        notes.insert(0, "local runs scored LOOK-ALIKE data (posebench demo): published figures are shown for "
                        "orientation only and never ranked with them")
    rows = []
    for r in runs:
        multicrop = bool(((r.meta.get("model") or {}).get("options") or {}).get("multicrop"))
        reasons = stale_reasons(r, current, reference_hash)
        agg = r.aggregates
        row = {"method": run_label(r), "kind": "run", "source": f"local run {r.run_id}", "rows": int(agg.rows)}
        recomputed = agg.summary()  # every figure from the run's files, never from its JSON
        for m in current.metric_names:
            row[m] = recomputed.get(m, float("nan"))
        tampered = [f"TAMPERED: {p}" for p in r.problems]
        diff = [] if reasons or tampered else differences(comparability(r.protocol, head.name, labels, multicrop),
                                                          comparability(current, head.name, labels))
        if not reasons and not tampered:
            iv = metric_interval(r, head.name, n_boot=n_boot)
            row["ci"] = f"[{iv.low:.1f}, {iv.high:.1f}]"
            if iv.warning:
                notes.append(f"{row['method']}: interval over {iv.n_clusters} {agg.cluster_key or 'row'} clusters "
                             "is indicative only")
        row["status"] = "tampered" if tampered else "stale" if reasons else "unranked" if diff else "ranked"
        row["note"] = "; ".join(tampered or reasons or diff)
        rows.append(row)
    pub = published[published.protocol == current.name]
    if labels and len(current.labels) > 1:
        pub = pub[pub.labels == labels]
    for (method, citation), g in pub.groupby(["method", "citation"], sort=False):
        row = {"method": method, "kind": "published", "source": "; ".join(dict.fromkeys(g["source"])),
               "rows": None, "ci": None}
        head_diff: list[str] | None = None
        extra: dict[tuple[str, ...], list[str]] = {}
        for m in current.metric_names:
            hit = g[g.metric == m]
            row[m] = float(hit["value"].iloc[0]) if len(hit) else float("nan")
            if len(hit):
                d = differences(hit.iloc[0].to_dict(), comparability(current, m, labels))
                if m == head.name:
                    head_diff = d
                else:
                    extra.setdefault(tuple(d), []).append(m)
        if head_diff is None:
            head_diff = [f"no {head.name} reported"]
        if lookalike:
            head_diff = ["data: the official release vs look-alike"] + head_diff
        named = list(head_diff)
        for d, metrics in extra.items():
            rest = [x for x in d if x not in head_diff]
            if rest:
                named.append(f"{', '.join(metrics)}: {'; '.join(rest)}")
        row["status"] = "unranked" if head_diff else "ranked"
        row["note"] = "; ".join(named)
        rows.append(row)
    return Board(current, labels, _order(pd.DataFrame(rows), head), notes)


def _order(df: pd.DataFrame, head: Any) -> pd.DataFrame:
    """Ranked rows first (by the headline, best first; ties share a rank), then unranked, stale, tampered."""
    columns = ["rank", "method", "kind", *[c for c in df.columns if c not in ("method", "kind", "source", "rows", "ci",
                                                                              "status", "note")],
               "ci", "rows", "status", "source", "note"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    order = {"ranked": 0, "unranked": 1, "stale": 2, "tampered": 3}
    key = df[head.name] * (-1 if head.higher_is_better else 1)
    df = df.assign(_s=df["status"].map(order), _k=key.fillna(np.inf)).sort_values(["_s", "_k"], kind="stable")
    df["rows"] = df["rows"].astype("Int64")
    ranked = df["status"] == "ranked"
    df["rank"] = pd.Series(pd.NA, index=df.index, dtype="Int64")
    df.loc[ranked, "rank"] = df.loc[ranked, "_k"].rank(method="min").astype(int)
    return df.drop(columns=["_s", "_k"])[columns].reset_index(drop=True)


def _display(board: Board) -> pd.DataFrame:
    """The board with units in the metric headers, the CI next to the headline, and empty cells as '–'."""
    df = board.rows.copy()
    renames = {m.name: f"{m.name} ({m.unit})" for m in board.protocol.metrics}
    head = board.protocol.headline
    df = df.rename(columns={**renames, "ci": f"95% CI {head}"})
    df["rank"] = df["rank"].astype(object).where(df["rank"].notna(), "")
    for col in ("rows", f"95% CI {head}"):
        df[col] = df[col].astype(object).where(df[col].notna(), "")
    return df.drop(columns=["kind"])


def render_leaderboard(boards: list[Board], fmt: str) -> str:
    """All boards in one format: Markdown/LaTeX sections, one CSV with a protocol column, or a JSON list."""
    if fmt == "json":
        return json.dumps([b.to_dict() for b in boards], indent=2, default=_json_default) + "\n"
    if fmt == "csv":
        frames = [b.rows.assign(protocol=b.protocol.name, version=b.protocol.version, labels=b.labels or "")
                  for b in boards]
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True).to_csv(index=False, lineterminator="\n") if frames else ""
    out = []
    for b in boards:
        h = b.protocol.metric(b.protocol.headline)
        direction = "higher is better" if h.higher_is_better else "lower is better"
        if fmt == "md":
            out.append(f"## {b.title}: {b.protocol.title}\n\nSorted by {h.name} ({direction}). "
                       f"Ranked: local runs and published rows whose comparability columns all match.\n")
            out.append(to_markdown(_display(b), digits=1, index=False))
            out += [f"- {n}" for n in b.notes]
            out.append("")
        elif fmt == "latex":
            out.append(f"% {b.title}: sorted by {h.name} ({direction}); needs \\usepackage{{booktabs}}")
            out.append(to_latex(_display(b).drop(columns=["source", "note"]), digits=1, index=False))
        else:
            raise ValueError(f"unknown leaderboard format {fmt!r} (one of {', '.join(FORMATS)})")
    return "\n".join(out)


LEADERBOARD_HEADER = ("# Leaderboard\n\nGenerated by `posebench leaderboard` from `runs/` and `published.csv` "
                      "(published figures quoted as reported, never recomputed). Do not edit by hand.\n\n")


def write_leaderboard(boards: list[Board], results_dir: str | os.PathLike, only: str | None = None) -> Path:
    """Rewrite RESULTS/leaderboard.md (atomically); with ``only``, replace just that protocol's sections of it."""
    path = Path(results_dir) / "leaderboard.md"
    body = render_leaderboard(boards, "md")
    if only is not None and path.is_file():
        old = path.read_text(encoding="utf-8")
        head, _, rest = old.partition("\n## ")
        sections = [f"## {x}" for x in rest.split("\n## ")] if rest else []
        kept = [x for x in sections if not x.startswith(f"## {only} v")]
        fresh = [f"## {x}" if i else x for i, x in enumerate(body.split("\n## "))] if body else []
        merged = sorted(kept + fresh, key=lambda x: x.split(" ", 2)[1])
        body = "\n".join(x if x.endswith("\n") else x + "\n" for x in merged)
    write_text_atomic(path, LEADERBOARD_HEADER + body)
    return path


# --- runs: lookup, comparison -------------------------------------------------------------------------------

def resolve_run(spec: str | os.PathLike, results_dir: str | os.PathLike | None = None,
                verify: str = "aggregates") -> Any:
    """A run by JSON path, run id, or unique run-id prefix under RESULTS/runs/ (``verify``: see load_result)."""
    from posebench.results import load_result, results_root, run_files

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


class CompareError(ValueError):
    """Two runs cannot be compared row by row."""


def compare_runs(a: Any, b: Any, metrics: list[str] | None = None, n_boot: int = 2000,
                 seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Per metric: A, B, A - B with its cluster-bootstrap interval and the paired cluster test, on shared rows.

    Runs over the same rows are paired from their aggregates alone; otherwise from the shared rows' errors.
    """
    from posebench.stats import FewClustersWarning

    if a.protocol.name != b.protocol.name or a.protocol.version != b.protocol.version:
        raise CompareError(f"runs use different protocols: {a.protocol.name} v{a.protocol.version} vs "
                           f"{b.protocol.name} v{b.protocol.version}")
    ha, hb = ((r.meta.get("data") or {}).get("content_hash") for r in (a, b))
    if ha != hb:
        raise CompareError(f"runs scored different data (hash {str(ha)[:10]} vs {str(hb)[:10]}): rows do not pair")
    for r in (a, b):
        if r.problems:
            raise CompareError(f"run {r.run_id} is TAMPERED ({'; '.join(r.problems)}): not compared")
    from posebench.aggregates import paired

    notes: list[str] = []
    wanted = metrics or list(a.protocol.metric_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        cells = {m: paired(a.aggregates, b.aggregates, m, n_boot=n_boot, seed=seed) for m in wanted}
    if any(c is None for c in cells.values()):  # other rows or cells: pair the shared rows from the errors files
        cells = _compare_rows(a, b, wanted, n_boot, seed, notes)
    key = a.aggregates.cluster_key
    if key is None:
        notes.append("no cluster column: rows treated as independent")
    out = {}
    for m, c in cells.items():
        md = a.protocol.metric(m)
        if c.warning and not any("clusters" in n for n in notes):
            notes.append(f"only {c.n_clusters} {key} clusters: intervals and p-values are indicative only")
        better = "A" if (c.difference > 0) == md.higher_is_better else "B"
        out[m] = {"unit": md.unit, "A": c.a, "B": c.b, "A-B": c.difference, "ci_low": c.low, "ci_high": c.high,
                  "p": c.p_value, "better": better if c.p_value < 0.05 and c.difference != 0 else "",
                  "clusters": c.n_clusters, "rows": c.n_rows}
    df = pd.DataFrame.from_dict(out, orient="index")
    df.index.name = "metric"
    return df, notes


def _compare_rows(a: Any, b: Any, metrics: list[str], n_boot: int, seed: int, notes: list[str]) -> dict[str, Any]:
    """Paired tests on the rows two runs share, from their per-row errors (when their rows differ)."""
    from posebench.stats import FewClustersWarning, paired_test

    shared, ia, ib = np.intersect1d(a.index, b.index, return_indices=True)
    if len(shared) == 0:
        raise CompareError("the runs share no rows")
    if len(shared) < max(len(a.index), len(b.index)):
        notes.append(f"compared on the {len(shared)} shared rows (A has {len(a.index)}, B has {len(b.index)})")
    key = a.aggregates.cluster_key
    clusters = a.codes[key][0] if key else np.arange(len(a.index))
    out = {}
    for m in metrics:
        md = a.protocol.metric(m)
        groups = a.codes[md.group_by][0][ia] if md.aggregate == "actions" else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            out[m] = paired_test(a.per_sample(m)[ia], b.per_sample(m)[ib], clusters[ia], groups, n_boot=n_boot, seed=seed)
    return out


# --- per-run report -----------------------------------------------------------------------------------------

def summary_table(result: Any, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Each metric with its unit and cluster-bootstrap interval."""
    rows = {}
    for m in result.protocol.metrics:
        iv = metric_interval(result, m.name, n_boot=n_boot, seed=seed)
        rows[m.name] = {"value": iv.estimate, "unit": m.unit, "ci_low": iv.low,
                        "ci_high": iv.high, "clusters": iv.n_clusters, "rows": iv.n_rows}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "metric"
    return df


def group_names(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows renamed to their official display names where there are some (MPI-INF-3DHP activities, TestSeqN)."""
    from posebench.results import display_names

    return display_names(table, key)


def joint_groups_for(metric: Any) -> dict[str, tuple[int, ...]] | None:
    """MPI-INF-3DHP's printed joint groups when a metric scores its 14 joints, else per joint."""
    return MPI3DHP_GROUPS if tuple(metric.joints) == JOINT_SETS["vnect14"] else None


def _write_table(df: pd.DataFrame, stem: Path, digits: int = 2) -> list[Path]:
    out = []
    for fmt, ext in (("csv", "csv"), ("md", "md"), ("latex", "tex"), ("json", "json")):
        path = stem.with_suffix(f".{ext}")
        write_text_atomic(path, render(df, fmt, digits=digits))
        out.append(path)
    return out


def load_poses(result: Any, data: str | os.PathLike | None = None, predictions: str | os.PathLike | None = None,
               positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | str:
    """Ground truth and prediction (root-centred, rescaled as the protocol does) for a run's rows (or just the
    ``positions`` of its index: only those rows of the predictions are read), or the reason they cannot be had.

    The poses must reproduce the run's stored errors for the headline metric: another predictions file at the
    recorded path is named as such rather than drawn.
    """
    from posebench.data import PreparedFileError, read_attrs, read_prepared
    from posebench.evaluation import compute_errors, prepare_poses
    from posebench.predictions import PredictionsError

    pred_path = predictions or (result.meta.get("predictions") or {}).get("path")
    data_path = data or (result.meta.get("data") or {}).get("path")
    if not pred_path or not Path(pred_path).is_file():
        return "no predictions file recorded or given (--predictions)"
    if not data_path or not Path(data_path).is_file():
        return "the prepared file is not at its recorded path (give --data)"
    positions = np.arange(len(result.index)) if positions is None else np.asarray(positions, dtype=np.int64)
    rows = result.index[positions]
    target = result.protocol.target
    try:
        if read_attrs(data_path).get("content_hash") != (result.meta.get("data") or {}).get("content_hash"):
            return f"{data_path} is not the data this run scored (content hash differs)"
        # Only the chunks holding these rows are read: the check below against the run's stored errors (whose
        # file the run's hashes vouch for) is what proves these are the rows it scored.
        gt = np.asarray(read_prepared(data_path, columns=[target], rows=rows, verify=False)[target])
        joints = prediction_rows(pred_path, rows)
    except (PreparedFileError, PredictionsError) as e:
        return str(e)
    head = result.protocol.headline
    again = compute_errors(result.protocol, joints, gt)[head]
    if not np.allclose(again, result.errors[head][positions], rtol=1e-5, atol=1e-3):
        return f"{pred_path} does not reproduce this run's errors (not the predictions it scored)"
    pred, gt = prepare_poses(result.protocol, joints, gt)  # exactly as they were scored
    return gt, pred


def prediction_rows(path: str | os.PathLike, rows: np.ndarray) -> np.ndarray:
    """The predicted joints (len(rows), 17, 3) for prepared-file ``rows``, reading only those rows of an HDF5 file."""
    from posebench.h5safe import UnsafeFileError, check_shape, is_hdf5, open_h5, plain_dataset, read_dataset
    from posebench.predictions import PredictionsError, match_index, read_predictions

    if not is_hdf5(path):
        joints, idx = read_predictions(path)
        return joints[match_index(idx, rows, int(max(idx.max(initial=-1), rows.max(initial=-1))) + 1)]
    try:
        with open_h5(path, "predictions file") as f:
            ids, ds = plain_dataset(f, "index"), plain_dataset(f, "joints3d")
            n = check_shape(ids, trailing=(), kinds="iu")[0]
            check_shape(ds, trailing=(17, 3), kinds="fiu", rows=n)
            index = read_dataset(ids).astype(np.int64)
            order = np.argsort(index, kind="stable")
            at = np.searchsorted(index[order], rows)
            found = (at < n) & (index[order][np.minimum(at, max(n - 1, 0))] == rows) if n else np.zeros(len(rows), bool)
            if not found.all():
                raise PredictionsError(f"{path}: no prediction for row {int(rows[~found][0])}")
            joints = read_dataset(ds, order[at]).astype(np.float64)
    except UnsafeFileError as e:
        raise PredictionsError(str(e)) from None
    if not np.isfinite(joints).all():
        raise PredictionsError(f"{path}: joints3d has NaN/inf in the rows drawn")
    return joints


def worst_case_figure(result: Any, n: int = 6, data: str | os.PathLike | None = None,
                      predictions: str | os.PathLike | None = None, suptitle: str | None = None):
    """Skeleton overlays of a run's ``n`` worst rows by its headline metric, or the reason they cannot be drawn."""
    from posebench import plots

    head = result.protocol.metric(result.protocol.headline)
    per = result.per_sample(head.name)
    label_key = _cluster_key(result)
    worst = plots.worst_indices(per, n, higher_is_worse=not head.higher_is_better,
                                distinct=result.codes[label_key][0] if label_key else None)
    poses = load_poses(result, data, predictions, positions=worst)
    if isinstance(poses, str):
        return poses
    titles = [(f"{result.groups[label_key][i]}\n" if label_key else "") + f"row {int(result.index[i])}: "
              f"{per[i]:.0f} {head.unit}" for i in worst]
    suptitle = suptitle or (f"{run_label(result)} on {result.protocol.name}: worst {head.name} "
                            "(prediction in colour, ground truth dashed)")
    return plots.skeleton_overlays(poses[0], poses[1], titles, suptitle=suptitle)


def write_report(result: Any, out: str | os.PathLike, *, data: str | os.PathLike | None = None,
                 predictions: str | os.PathLike | None = None, n_worst: int = 6, n_boot: int = 2000,
                 seed: int = 0) -> list[Path]:
    """Tables (CSV/Markdown/LaTeX/JSON) and figures (PNG/PDF) for one run, plus an index.md, into ``out``."""
    from posebench import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    p = result.protocol
    head = p.metric(p.headline)
    summary = summary_table(result, n_boot=n_boot, seed=seed)
    written += _write_table(summary, out / "summary")
    md = [f"# Report: {result.run_id}\n", f"{run_label(result)} on **{p.name} v{p.version}** ({p.title}); "
          f"{result.meta.get('rows_scored', len(result.index))} rows; data hash "
          f"{str((result.meta.get('data') or {}).get('content_hash'))[:12]}.\n",
          "## Summary (95% cluster-bootstrap intervals)\n", to_markdown(summary, digits=2)]
    if result.problems:
        md.insert(2, f"**TAMPERED: {'; '.join(result.problems)}.** Every figure below is recomputed from the "
                     "run's files, not taken from its JSON.\n")
    if summary["clusters"].min() < 20:
        md.append(f"\nOnly {int(summary['clusters'].min())} independent clusters: the intervals are indicative only.\n")
    for key in [k for k in p.breakdowns if k in result.groups]:
        table = group_names(result.table(key), key)
        written += _write_table(table, out / f"by-{key}")
        md += [f"\n## By {key}\n", to_markdown(table, digits=2)]
        bars = table.drop(index="All")[[head.name]].rename(columns={head.name: run_label(result)})
        fig = plots.group_bars(bars, f"{head.name} ({head.unit})", f"{head.name} by {key}: {result.run_id}")
        written += plots.save_figure(fig, out / f"bars-{key}")
        md.append(f"\n![{head.name} by {key}](bars-{key}.png)\n")
    for m in [head] + [x for x in p.metrics if x.name == "mpjpe" and x is not head]:
        groups = joint_groups_for(m)
        by = next((k for k in p.breakdowns if k in result.groups), None)
        table = result.joint_table(m.name, by=by, joint_groups=groups)
        table = group_names(table, by) if by else table.rename_axis("rows")
        written += _write_table(table, out / f"joints-{m.name}")
        md += [f"\n## {m.name} ({m.unit}) per {'joint group' if groups else 'joint'}\n", to_markdown(table, digits=1)]
    curve_metric = next((m for m in p.metrics if m.align == "none" and m.name in result.errors), None)
    if curve_metric is not None:
        fig = plots.pck_curve({run_label(result): result.errors[curve_metric.name]},
                              title=f"3D PCK vs threshold ({curve_metric.name} errors, {p.name})")
        written += plots.save_figure(fig, out / "pck-curve")
        md.append("\n## PCK vs threshold\n\n![PCK curve](pck-curve.png)\n")
    fig = worst_case_figure(result, n_worst, data, predictions)
    if isinstance(fig, str):
        md.append(f"\n## Worst cases\n\nNot drawn: {fig}.\n")
    else:
        written += plots.save_figure(fig, out / "worst-cases")
        md.append(f"\n## Worst cases by {head.name}\n\n![worst cases](worst-cases.png)\n")
    index = out / "index.md"
    write_text_atomic(index, "\n".join(md))
    return [index, *written]

"""The leaderboard: one table per protocol (and label release) from stored runs and published.csv.

Each table is sorted by the headline metric in its direction. A local run is ranked with a published row only
when every comparability column matches; other published rows are shown unranked with the difference named;
runs of an older protocol version or other data are flagged stale and not ranked. A board shows the published rows
listed under its protocol and those of another protocol of its dataset whose comparability columns match it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from posebench.io_utils import write_text_atomic
from posebench.protocols import MetricDef, Protocol
from posebench.report.comparability import PROTOCOL_COLUMNS, comparability, differences
from posebench.report.intervals import metric_interval, run_label
from posebench.report.published import load_published
from posebench.report.tables import FORMATS, json_default, to_json, to_latex, to_markdown
from posebench.results import Result


PROSE_KEYS = ("title", "description", "citation", "deviations", "source", "aliases")


@dataclass
class Board:
    """One leaderboard table: a protocol (and label release), its rows in display order."""

    protocol: Protocol
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


def _protocol_changes(result: Result, current: Protocol) -> list[str]:
    """Keys whose value differs between a run's protocol echo and the current protocol (prose and keys only one
    side has are ignored: a field added to Protocol later changes no old run's meaning)."""
    old = result.meta["protocol"]
    new = json.loads(json.dumps(current.to_dict()))
    return sorted(k for k in (set(old) & set(new)) - set(PROSE_KEYS) if old[k] != new[k])


def stale_reasons(result: Result, current: Protocol, reference_hash: str | None) -> list[str]:
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


def current_data(runs: list[Result], current: Protocol) -> tuple[str | None, str]:
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


def _board_key(result: Result) -> tuple[str, str | None]:
    labels = (result.meta.get("data") or {}).get("labels")
    return result.protocol.name, labels if len(result.protocol.labels) > 1 else (labels or None)


def build_leaderboard(runs: list[Result], published: pd.DataFrame | None = None, protocol: str | None = None,
                      data_hashes: dict[str, str] | None = None, n_boot: int = 2000) -> list[Board]:
    """Leaderboard tables for every protocol with runs or published rows (or just ``protocol``)."""
    from posebench.protocols import ProtocolError, list_protocols, load_protocol

    published = load_published() if published is None else published
    keys: dict[tuple[str, str | None], list[Result]] = {}
    for r in runs:
        keys.setdefault(_board_key(r), []).append(r)
    shipped = list_protocols()
    datasets = {p.name: p.dataset for p in shipped}
    for p in shipped:
        for lab in (p.labels if p.labels else (None,)):
            if not published_rows(p, lab, published, datasets).empty:
                keys.setdefault((p.name, lab), [])
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
        pub = published_rows(current, labels, published, datasets)
        boards.append(_board(current, labels, group, pub, hashes.get(f"{name}:{labels}", hashes.get(name)), n_boot))
    return boards


def published_rows(current: Protocol, labels: str | None, published: pd.DataFrame,
                   datasets: dict[str, str]) -> pd.DataFrame:
    """The published rows a board shows: those listed under its protocol (of its label release), and those listed
    under another protocol of the same dataset (``datasets``: protocol name -> dataset) whose protocol-fixed
    comparability columns all match the board's for their metric, e.g. a paper's figures under a variant that
    scores as the paper's code did."""
    own = published["protocol"] == current.name
    if labels and len(current.labels) > 1:
        own &= published["labels"] == labels
    foreign = ~own & (published["protocol"] != current.name) & \
        (published["protocol"].map(datasets) == current.dataset)
    shown = own.copy()
    cols = list(PROTOCOL_COLUMNS)
    values = published.reindex(columns=cols).astype(str)  # a column the file lacks never matches
    for m in current.metric_names:
        pick = foreign & (published["metric"] == m)
        if pick.any():
            same = (values[pick] == pd.Series(comparability(current, m, labels))[cols]).all(axis=1)
            shown.loc[same.index[same]] = True
    return published[shown]


def _board(current: Protocol, labels: str | None, runs: list[Result], pub: pd.DataFrame,
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
        notes.insert(0, "local runs scored LOOK-ALIKE data (posebench sample): published figures are shown for "
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


RANK_DIGITS = 1  # the leaderboard prints one decimal


def _order(df: pd.DataFrame, head: MetricDef) -> pd.DataFrame:
    """Ranked rows first (by the headline, best first), then unranked, stale, tampered.

    Ties share a rank and the next rank skips (1, 1, 3); values equal at the printed precision (RANK_DIGITS
    decimals) are ties, so no rank rests on a difference the table does not show.
    """
    columns = ["rank", "method", "kind", *[c for c in df.columns if c not in ("method", "kind", "source", "rows", "ci",
                                                                              "status", "note")],
               "ci", "rows", "status", "source", "note"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    order = {"ranked": 0, "unranked": 1, "stale": 2, "tampered": 3}
    key = df[head.name] * (-1 if head.higher_is_better else 1)
    df = df.assign(_s=df["status"].map(order), _k=key.fillna(np.inf)).sort_values(["_s", "_k"], kind="stable")
    df = df.reindex(columns=[*df.columns, *[c for c in columns if c not in df.columns and c != "rank"]])
    df["rows"] = df["rows"].astype("Int64")
    ranked = df["status"] == "ranked"
    df["rank"] = pd.Series(pd.NA, index=df.index, dtype="Int64")
    df.loc[ranked, "rank"] = df.loc[ranked, "_k"].round(RANK_DIGITS).rank(method="min").astype(int)
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
        return json.dumps([b.to_dict() for b in boards], indent=2, default=json_default) + "\n"
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
            out.append(f"## {b.title}: {b.protocol.title}\n")
            out += [f"> **{n}**\n" for n in b.notes if "LOOK-ALIKE" in n]  # the banner, above the table
            out.append(f"Sorted by {h.name} ({direction}). "
                       f"Ranked: local runs and published rows whose comparability columns all match.\n")
            out.append(to_markdown(_display(b), digits=1, index=False))
            out += [f"- {n}" for n in b.notes if "LOOK-ALIKE" not in n]
            out.append("")
        elif fmt == "latex":
            out += [f"% {n}" for n in b.notes if "LOOK-ALIKE" in n]
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



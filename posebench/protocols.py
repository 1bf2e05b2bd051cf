"""Protocols as data: `protocols/*.toml` loaded into frozen dataclasses, validated, discoverable.

A protocol says which rows of which prepared file are scored, against which target, how predictions are
rescaled, and which metrics (each with its alignment, fitted/scored joints and aggregation) are reported.
"""
from __future__ import annotations

import difflib
import importlib.resources
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from posebench.errors import PosebenchError
from posebench.metrics import AUC_THRESHOLDS, METRICS, PCK_THRESHOLD
from posebench.skeleton import JOINTS, resolve_joints

PACKAGE = "posebench.protocols_data"
PROTOCOL_PATH_ENV = "POSEBENCH_PROTOCOLS"  # extra folders (os.pathsep-separated) searched first

# metric name -> (kind, alignments it may use, higher is better, unit in results), from the one vocabulary
METRIC_KINDS: dict[str, tuple[str, tuple[str, ...], bool, str]] = {
    name: (s.kind, s.aligns, s.higher_is_better, s.unit) for name, s in METRICS.items()}
RESCALES = ("none", "knee_neck_920")
AGGREGATES = ("frames", "actions")
GRANTS = ("root_depth",)
TARGETS = ("joints3d", "joints3d_univ")

_TOP_KEYS = {"name", "version", "title", "description", "citation", "deviations", "aliases", "dataset",
             "split", "labels", "target", "headline", "breakdowns", "cluster", "selection", "prediction",
             "metrics"}
_SELECTION_KEYS = {"subjects", "frame_stride", "valid_only", "exclude"}
_EXCLUDE_KEYS = {"subject", "sequence", "camera", "action", "reason"}
_PREDICTION_KEYS = {"rescale", "granted"}
_METRIC_KEYS = {"name", "align", "fit_joints", "joints", "aggregate", "group_by", "threshold", "thresholds"}


class ProtocolError(PosebenchError):
    """A protocol file is malformed or names something unknown."""


@dataclass(frozen=True)
class Exclusion:
    """Rows matching every given key are left out, for the stated reason."""

    reason: str
    subject: int | None = None
    sequence: str | None = None
    camera: int | None = None
    action: str | None = None


@dataclass(frozen=True)
class Selection:
    subjects: tuple[int, ...] = ()
    frame_stride: int = 1
    valid_only: bool = False
    exclude: tuple[Exclusion, ...] = ()


@dataclass(frozen=True)
class MetricDef:
    """One reported metric: its alignment, fitted and scored joints, and aggregation."""

    name: str
    align: str
    fit_joints: tuple[int, ...]
    joints: tuple[int, ...]
    aggregate: str = "frames"
    group_by: str | None = None
    threshold: float = PCK_THRESHOLD
    thresholds: tuple[float, ...] = tuple(float(t) for t in AUC_THRESHOLDS)

    @property
    def kind(self) -> str:
        return METRIC_KINDS[self.name][0]

    @property
    def higher_is_better(self) -> bool:
        return METRIC_KINDS[self.name][2]

    @property
    def unit(self) -> str:
        return METRIC_KINDS[self.name][3]


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int
    title: str
    dataset: str
    split: str
    target: str
    metrics: tuple[MetricDef, ...]
    selection: Selection = field(default_factory=Selection)
    rescale: str = "none"
    granted: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    headline: str = ""
    breakdowns: tuple[str, ...] = ()
    cluster: str | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""
    citation: str = ""
    deviations: str = ""
    source: str = ""

    def metric(self, name: str) -> MetricDef:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"protocol {self.name!r} has no metric {name!r} (has: {', '.join(self.metric_names)})")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready echo of the whole protocol (results store it)."""
        d = asdict(self)
        for m in d["metrics"]:
            m["fit_joints"] = [JOINTS[i] for i in m["fit_joints"]]
            m["joints"] = [JOINTS[i] for i in m["joints"]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        """Inverse of :meth:`to_dict` (used when loading a stored result)."""
        sel = d.get("selection", {})
        return cls(
            **{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()
               if k not in ("metrics", "selection")},
            selection=Selection(subjects=tuple(sel.get("subjects", ())), frame_stride=sel.get("frame_stride", 1),
                                valid_only=sel.get("valid_only", False),
                                exclude=tuple(Exclusion(**e) for e in sel.get("exclude", ()))),
            metrics=tuple(MetricDef(**{**m, "fit_joints": resolve_joints(m["fit_joints"]),
                                       "joints": tuple(resolve_joints(m["joints"])) if m["joints"] else (),
                                       "thresholds": tuple(m.get("thresholds", ()))})
                          for m in d["metrics"]),
        )


def _check_keys(section: str, given: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in given:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; allowed: {', '.join(sorted(allowed))}"
            raise ProtocolError(f"{where}: unknown key {key!r} in {section}{hint}")


def _choice(value: Any, allowed: tuple[str, ...], what: str, where: str) -> str:
    if value not in allowed:
        near = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ProtocolError(f"{where}: {what} {value!r} is not one of {', '.join(allowed)}{hint}")
    return value


def _parse_metric(raw: dict[str, Any], where: str) -> MetricDef:
    _check_keys("[[metrics]]", raw, _METRIC_KEYS, where)
    name = _choice(raw.get("name"), tuple(METRIC_KINDS), "metric", where)
    kind, aligns, _, _ = METRIC_KINDS[name]
    align = raw.get("align", aligns[0])
    _choice(align, ("none", "scale", "procrustes", "procrustes_reflect"), f"alignment of {name}", where)
    if align not in aligns:
        raise ProtocolError(f"{where}: metric {name!r} cannot use alignment {align!r} (allowed: {', '.join(aligns)})")
    aggregate = _choice(raw.get("aggregate", "frames"), AGGREGATES, f"aggregate of {name}", where)
    group_by = raw.get("group_by")
    if aggregate == "actions" and not group_by:
        raise ProtocolError(f"{where}: metric {name!r} aggregates over actions but names no group_by column")
    try:
        fit = resolve_joints(raw.get("fit_joints", "all"))
        joints = resolve_joints(raw.get("joints", "all"))
    except ValueError as e:
        raise ProtocolError(f"{where}: metric {name!r}: {e}") from None
    thresholds = tuple(float(t) for t in raw.get("thresholds", AUC_THRESHOLDS))
    return MetricDef(name=name, align=align, fit_joints=fit, joints=joints, aggregate=aggregate,
                     group_by=group_by, threshold=float(raw.get("threshold", PCK_THRESHOLD)), thresholds=thresholds)


def parse_protocol(raw: dict[str, Any], source: str = "<dict>") -> Protocol:
    """Validate a protocol mapping (as read from TOML) and build the frozen Protocol."""
    where = source
    _check_keys("the top level", raw, _TOP_KEYS, where)
    for key in ("name", "version", "dataset", "split", "metrics"):
        if key not in raw:
            raise ProtocolError(f"{where}: missing required key {key!r}")
    sel_raw = raw.get("selection", {})
    _check_keys("[selection]", sel_raw, _SELECTION_KEYS, where)
    excl = []
    for e in sel_raw.get("exclude", []):
        _check_keys("[[selection.exclude]]", e, _EXCLUDE_KEYS, where)
        if not e.get("reason"):
            raise ProtocolError(f"{where}: every exclusion needs a reason")
        excl.append(Exclusion(**e))
    stride = int(sel_raw.get("frame_stride", 1))
    if stride < 1:
        raise ProtocolError(f"{where}: frame_stride must be >= 1, got {stride}")
    selection = Selection(subjects=tuple(int(s) for s in sel_raw.get("subjects", [])), frame_stride=stride,
                          valid_only=bool(sel_raw.get("valid_only", False)), exclude=tuple(excl))
    pred_raw = raw.get("prediction", {})
    _check_keys("[prediction]", pred_raw, _PREDICTION_KEYS, where)
    rescale = _choice(pred_raw.get("rescale", "none"), RESCALES, "prediction rescale", where)
    granted = tuple(_choice(g, GRANTS, "grant", where) for g in pred_raw.get("granted", []))
    metrics = tuple(_parse_metric(m, where) for m in raw["metrics"])
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ProtocolError(f"{where}: a metric is listed twice ({', '.join(names)})")
    headline = raw.get("headline", names[0])
    if headline not in names:
        raise ProtocolError(f"{where}: headline {headline!r} is not one of its metrics ({', '.join(names)})")
    target = _choice(raw.get("target", "joints3d"), TARGETS, "target", where)
    return Protocol(
        name=str(raw["name"]), version=int(raw["version"]), title=str(raw.get("title", raw["name"])),
        dataset=str(raw["dataset"]), split=str(raw["split"]), target=target, metrics=metrics,
        selection=selection, rescale=rescale, granted=granted, labels=tuple(raw.get("labels", [])),
        headline=headline, breakdowns=tuple(raw.get("breakdowns", [])), cluster=raw.get("cluster"),
        aliases=tuple(raw.get("aliases", [])), description=str(raw.get("description", "")).strip(),
        citation=str(raw.get("citation", "")).strip(), deviations=str(raw.get("deviations", "")).strip(),
        source=source,
    )


def load_protocol_file(path: str | os.PathLike) -> Protocol:
    """Load and validate one protocol TOML file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ProtocolError(f"{path}: cannot read protocol ({e})") from None
    return parse_protocol(raw, source=str(path))


def _shipped() -> dict[str, str]:
    """name.toml -> text of the protocols shipped as package data."""
    out = {}
    for entry in importlib.resources.files(PACKAGE).iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name] = entry.read_text(encoding="utf-8")
    return out


def _all_protocols() -> dict[str, Protocol]:
    found: dict[str, Protocol] = {}
    for fname, text in sorted(_shipped().items()):
        p = parse_protocol(tomllib.loads(text), source=f"{PACKAGE}/{fname}")
        found[p.name] = p
    for folder in filter(None, os.environ.get(PROTOCOL_PATH_ENV, "").split(os.pathsep)):
        for f in sorted(Path(folder).glob("*.toml")):
            p = load_protocol_file(f)
            found[p.name] = p
    return found


def list_protocols() -> list[Protocol]:
    """Every known protocol (shipped, plus folders in $POSEBENCH_PROTOCOLS), sorted by name."""
    return [p for _, p in sorted(_all_protocols().items())]


def load_protocol(name: str | os.PathLike | Protocol) -> Protocol:
    """A protocol by name or alias, or from a .toml path; a Protocol is returned unchanged."""
    if isinstance(name, Protocol):
        return name
    if str(name).endswith(".toml"):
        return load_protocol_file(name)
    protocols = _all_protocols()
    if name in protocols:
        return protocols[name]
    for p in protocols.values():
        if name in p.aliases:
            return p
    names = sorted(set(protocols) | {a for p in protocols.values() for a in p.aliases})
    near = difflib.get_close_matches(str(name), names, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise ProtocolError(f"unknown protocol {name!r}{hint} (known: {', '.join(names)})")

"""Protocols as data: `protocols/*.toml` loaded into frozen dataclasses, validated, discoverable.

A protocol says which rows of which prepared file are scored, against which target, how predictions are
rescaled, and which metrics (each with its alignment, fitted/scored joints and aggregation) are reported.
"""
from __future__ import annotations

import difflib
import importlib.resources
import os
import re
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
# joints3d_univ_from_annot3: annot3 / the sequence's universal scale, the MargiPose code's MPI-INF-3DHP ground truth
TARGETS = ("joints3d", "joints3d_univ", "joints3d_univ_from_annot3")
ALIGNS = ("none", "scale", "procrustes", "procrustes_reflect")
# Row columns a metric may group by, a report may break down by, or intervals may cluster on.
COLUMNS = ("action", "take", "sequence", "activity", "scene", "subject", "camera")
DEFAULT_THRESHOLDS = tuple(float(t) for t in AUC_THRESHOLDS)
# Names that become parts of paths (protocols, aliases, datasets, splits, label releases, run ids).
PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")

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
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS

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
        try:
            return cls._from_dict(d)
        except (TypeError, KeyError, ValueError, AttributeError) as e:
            raise ProtocolError(f"a stored protocol echo is malformed ({type(e).__name__}: {e})") from None

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Protocol:
        sel = d.get("selection", {})
        p = cls(
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
        # Names an echo carries become paths and table keys: as plain as a protocol file's.
        for value, what in ((p.name, "protocol name"), (p.dataset, "dataset"), (p.split, "split"),
                            *((v, "label release") for v in p.labels), *((v, "alias") for v in p.aliases)):
            check_plain_name(value, what, "stored protocol echo")
        for col in (*p.breakdowns, *([p.cluster] if p.cluster else []), *(m.group_by for m in p.metrics if m.group_by)):
            _choice(col, COLUMNS, "column", "stored protocol echo")
        for m in p.metrics:
            _choice(m.name, tuple(METRIC_KINDS), "metric", "stored protocol echo")
        return p


def _check_keys(section: str, given: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in given:
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; allowed: {', '.join(sorted(allowed))}"
            raise ProtocolError(f"{where}: unknown key {key!r} in {section}{hint}")


def _choice(value: Any, allowed: tuple[str, ...], what: str, where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        near = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ProtocolError(f"{where}: {what} {value!r} is not one of {', '.join(allowed)}{hint}")
    return value


_TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a table"}


def _typed(raw: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    """``raw[key]`` (or ``default``) if it has TOML type ``kind`` exactly (a bool is not an integer); else one error."""
    if key not in raw:
        return default
    value = raw[key]
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ProtocolError(f"{where}: {key} must be {_TYPE_NAMES[kind]}, got {type(value).__name__} {value!r}")
    return value


def _typed_list(raw: dict[str, Any], key: str, kind: type, where: str) -> list[Any]:
    """``raw[key]`` as a list whose items all have TOML type ``kind`` (a string is not a list of characters)."""
    items = _typed(raw, key, list, where, [])
    for i, item in enumerate(items):
        _typed({f"{key}[{i}]": item}, f"{key}[{i}]", kind, where)
    return [float(v) if kind is float else v for v in items]


def check_plain_name(value: str, what: str, where: str = "") -> str:
    """A name that becomes part of a path (protocol, alias, dataset, split, run id): plain ``[a-z0-9._-]``."""
    if not isinstance(value, str) or not PLAIN_NAME.fullmatch(value) or ".." in value:
        prefix = f"{where}: " if where else ""
        raise ProtocolError(f"{prefix}{what} {value!r} must be a plain name: lower-case letters, digits, '.', '_', "
                            f"'-', starting with a letter or digit, no '..'")
    return value


def _joints(raw: dict[str, Any], key: str, where: str, name: str) -> tuple[int, ...]:
    spec = raw.get(key, "all")
    if not isinstance(spec, (str, list)) or (isinstance(spec, list) and not all(
            isinstance(j, str) or (isinstance(j, int) and not isinstance(j, bool)) for j in spec)):
        raise ProtocolError(f"{where}: metric {name!r}: {key} must be a joint set name or a list of joint names, "
                            f"got {spec!r}")
    try:
        return resolve_joints(spec)
    except ValueError as e:
        raise ProtocolError(f"{where}: metric {name!r}: {e}") from None


def _parse_metric(raw: Any, where: str) -> MetricDef:
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where}: every [[metrics]] entry must be a table, got {type(raw).__name__} {raw!r}")
    _check_keys("[[metrics]]", raw, _METRIC_KEYS, where)
    if "name" not in raw:
        raise ProtocolError(f"{where}: a [[metrics]] entry has no name (one of {', '.join(METRIC_KINDS)})")
    name = _choice(raw["name"], tuple(METRIC_KINDS), "metric", where)
    kind, aligns, _, _ = METRIC_KINDS[name]
    align = _choice(raw.get("align", aligns[0]), ALIGNS, f"alignment of {name}", where)
    if align not in aligns:
        raise ProtocolError(f"{where}: metric {name!r} cannot use alignment {align!r} (allowed: {', '.join(aligns)})")
    aggregate = _choice(raw.get("aggregate", "frames"), AGGREGATES, f"aggregate of {name}", where)
    group_by = raw.get("group_by")
    if group_by is not None:
        group_by = _choice(group_by, COLUMNS, f"group_by of {name}", where)
    if aggregate == "actions" and not group_by:
        raise ProtocolError(f"{where}: metric {name!r} aggregates over actions but names no group_by column")
    fit, joints = _joints(raw, "fit_joints", where, name), _joints(raw, "joints", where, name)
    threshold = _typed(raw, "threshold", float, f"{where}: metric {name!r}", float(PCK_THRESHOLD))
    thresholds = tuple(_typed_list(raw, "thresholds", float, f"{where}: metric {name!r}"))
    if "thresholds" in raw and not thresholds:
        raise ProtocolError(f"{where}: metric {name!r}: thresholds is empty")
    thresholds = thresholds or DEFAULT_THRESHOLDS
    bad = [t for t in (threshold, *thresholds) if not (0.0 <= t < float("inf"))]
    if bad:
        raise ProtocolError(f"{where}: metric {name!r}: thresholds must be finite and >= 0 mm, got {bad[0]!r}")
    if list(thresholds) != sorted(set(thresholds)):
        raise ProtocolError(f"{where}: metric {name!r}: thresholds must be increasing without repeats")
    return MetricDef(name=name, align=align, fit_joints=fit, joints=joints, aggregate=aggregate,
                     group_by=group_by, threshold=threshold, thresholds=thresholds)


def _parse_exclusion(e: Any, where: str) -> Exclusion:
    if not isinstance(e, dict):
        raise ProtocolError(f"{where}: every selection.exclude entry must be a table, got {e!r}")
    _check_keys("[[selection.exclude]]", e, _EXCLUDE_KEYS, where)
    w = f"{where}: selection.exclude"
    reason = _typed(e, "reason", str, w, "")
    if not reason.strip():
        raise ProtocolError(f"{where}: every exclusion needs a reason")
    if not set(e) - {"reason"}:
        raise ProtocolError(f"{where}: an exclusion names no subject, sequence, camera or action (it would drop every row)")
    return Exclusion(reason=reason, subject=_typed(e, "subject", int, w), sequence=_typed(e, "sequence", str, w),
                     camera=_typed(e, "camera", int, w), action=_typed(e, "action", str, w))


def _parse_selection(sel_raw: Any, where: str) -> Selection:
    if not isinstance(sel_raw, dict):
        raise ProtocolError(f"{where}: [selection] must be a table, got {sel_raw!r}")
    _check_keys("[selection]", sel_raw, _SELECTION_KEYS, where)
    w = f"{where}: selection"
    stride = _typed(sel_raw, "frame_stride", int, w, 1)
    if stride < 1:
        raise ProtocolError(f"{where}: frame_stride must be >= 1, got {stride}")
    excl = tuple(_parse_exclusion(e, where) for e in _typed(sel_raw, "exclude", list, w, []))
    return Selection(subjects=tuple(_typed_list(sel_raw, "subjects", int, w)), frame_stride=stride,
                     valid_only=_typed(sel_raw, "valid_only", bool, w, False), exclude=excl)


def parse_protocol(raw: dict[str, Any], source: str = "<dict>") -> Protocol:
    """Validate a protocol mapping (as read from TOML) and build the frozen Protocol: every key typed."""
    where = source
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where}: a protocol must be a table, got {type(raw).__name__}")
    _check_keys("the top level", raw, _TOP_KEYS, where)
    for key in ("name", "version", "dataset", "split", "metrics"):
        if key not in raw:
            raise ProtocolError(f"{where}: missing required key {key!r}")
    name = check_plain_name(_typed(raw, "name", str, where), "protocol name", where)
    version = _typed(raw, "version", int, where)
    if version < 1:
        raise ProtocolError(f"{where}: version must be >= 1, got {version}")
    dataset = check_plain_name(_typed(raw, "dataset", str, where), "dataset", where)
    split = check_plain_name(_typed(raw, "split", str, where), "split", where)
    labels = tuple(check_plain_name(v, "label release", where) for v in _typed_list(raw, "labels", str, where))
    aliases = tuple(check_plain_name(v, "alias", where) for v in _typed_list(raw, "aliases", str, where))
    selection = _parse_selection(raw.get("selection", {}), where)
    pred_raw = raw.get("prediction", {})
    if not isinstance(pred_raw, dict):
        raise ProtocolError(f"{where}: [prediction] must be a table, got {pred_raw!r}")
    _check_keys("[prediction]", pred_raw, _PREDICTION_KEYS, where)
    rescale = _choice(pred_raw.get("rescale", "none"), RESCALES, "prediction rescale", where)
    granted = tuple(_choice(g, GRANTS, "grant", where) for g in _typed(pred_raw, "granted", list, where, []))
    metrics_raw = _typed(raw, "metrics", list, where)
    if not metrics_raw:
        raise ProtocolError(f"{where}: metrics is empty; a protocol reports at least one metric")
    metrics = tuple(_parse_metric(m, where) for m in metrics_raw)
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ProtocolError(f"{where}: a metric is listed twice ({', '.join(names)})")
    headline = _choice(_typed(raw, "headline", str, where, names[0]), tuple(names), "headline", where)
    target = _choice(raw.get("target", "joints3d"), TARGETS, "target", where)
    breakdowns = tuple(_choice(b, COLUMNS, "breakdown", where) for b in _typed_list(raw, "breakdowns", str, where))
    cluster = raw.get("cluster")
    if cluster is not None:
        cluster = _choice(cluster, COLUMNS, "cluster", where)
    text = {k: _typed(raw, k, str, where, "").strip() for k in ("description", "citation", "deviations")}
    return Protocol(
        name=name, version=version, title=_typed(raw, "title", str, where, name), dataset=dataset, split=split,
        target=target, metrics=metrics, selection=selection, rescale=rescale, granted=granted, labels=labels,
        headline=headline, breakdowns=breakdowns, cluster=cluster, aliases=aliases, source=source, **text,
    )


def load_protocol_file(path: str | os.PathLike) -> Protocol:
    """Load and validate one protocol TOML file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
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
    """Shipped protocols, then those in $POSEBENCH_PROTOCOLS; a name or alias defined twice is an error."""
    found: dict[str, Protocol] = {}
    owner: dict[str, Protocol] = {}
    candidates = [parse_protocol(tomllib.loads(text), source=f"{PACKAGE}/{fname}")
                  for fname, text in sorted(_shipped().items())]
    for folder in filter(None, os.environ.get(PROTOCOL_PATH_ENV, "").split(os.pathsep)):
        candidates += [load_protocol_file(f) for f in sorted(Path(folder).glob("*.toml"))]
    for p in candidates:
        for label in (p.name, *p.aliases):
            if label in owner:
                raise ProtocolError(f"{p.source}: protocol name or alias {label!r} is already defined by "
                                    f"{owner[label].source}; give it its own name")
            owner[label] = p
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

"""Which rows and columns a protocol scores, and reading just those from a prepared file (verified).

The first step of an evaluation: find the prepared file a protocol scores, refuse the wrong dataset, split or
label release, select the protocol's rows, and read only the selection and grouping columns (whole) and the
target at the selected rows. `posebench.evaluation` scores what this returns.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from posebench.columns import factorize
from posebench.data import PreparedData, PreparedFileError, column_names, data_root, read_attrs, read_prepared
from posebench.errors import PosebenchError
from posebench.protocols import Protocol

GROUP_KEYS = ("action", "take", "sequence", "activity", "scene", "subject", "camera")


class DataMismatchError(PosebenchError):
    """The prepared data is not what the protocol scores (wrong dataset, split or label release)."""


def resolve_data(protocol: Protocol, data: str | os.PathLike | PreparedData | None) -> PreparedData:
    """The prepared dataset a protocol scores (every column, verified): an in-memory dataset, a .h5 file, or a folder."""
    if isinstance(data, PreparedData):
        check_data(protocol, data)
        return data
    path = data_path(protocol, data)
    check_data(protocol, PreparedData({}, read_attrs(path), path), column_names(path))
    prepared = read_prepared(path)
    check_data(protocol, prepared)
    return prepared


def data_path(protocol: Protocol, data: str | os.PathLike | None) -> Path:
    """The prepared file a protocol scores: ``data`` if it is a .h5 file, else found in the data folder."""
    if data is not None and str(data).endswith(".h5"):
        return Path(data)
    folder = data_root(data) / protocol.dataset
    names = [f"{protocol.split}-{lab}.h5" for lab in protocol.labels] or [f"{protocol.split}.h5"]
    found = [folder / n for n in names if (folder / n).is_file()]
    if not found:
        raise PreparedFileError(
            f"no prepared file for protocol {protocol.name!r}: looked for {', '.join(str(folder / n) for n in names)}; "
            f"run `{prepare_command(protocol, data_root(data))}` or pass --data")
    if len(found) > 1:
        raise DataMismatchError(f"protocol {protocol.name!r} accepts several label releases and {folder} holds "
                                f"{', '.join(p.name for p in found)}: pass the file with --data")
    return found[0]


def load_scored(protocol: Protocol, data: str | os.PathLike | PreparedData | None
                ) -> tuple[PreparedData, np.ndarray, np.ndarray]:
    """(grouping/selection columns, selected rows, target at those rows): only what the protocol scores is read.

    From a file: the attributes are checked first; then the columns the selection and the breakdowns use, whole,
    and the target only at the selected rows, each verified against the file's content hash as it streams in.
    """
    prepared, rows = load_selection(protocol, data)
    return prepared, rows, load_target(protocol, prepared, rows)


def load_selection(protocol: Protocol, data: str | os.PathLike | PreparedData | None) -> tuple[PreparedData, np.ndarray]:
    """The selection and grouping columns (verified) and the rows the protocol selects (see load_scored)."""
    if isinstance(data, PreparedData):
        check_data(protocol, data)
        return data, select_rows(protocol, data)
    path = data_path(protocol, data)
    names = column_names(path)
    check_data(protocol, PreparedData({}, read_attrs(path), path), names)
    wanted = [c for c in (*selection_columns(protocol), *GROUP_KEYS) if c in names]
    prepared = read_prepared(path, columns=wanted)
    return prepared, select_rows(protocol, prepared)


def load_target(protocol: Protocol, prepared: PreparedData, rows: np.ndarray,
                stream: Callable[[np.ndarray, int], None] | None = None) -> np.ndarray:
    """The scored column at ``rows``: from memory, or read (verified) from the prepared file (``stream``: as
    ``read_prepared``'s, called as its rows come in)."""
    return load_column(prepared, protocol.target, rows, stream)


def load_column(prepared: PreparedData, name: str, rows: np.ndarray,
                stream: Callable[[np.ndarray, int], None] | None = None) -> np.ndarray:
    """A pose column at ``rows``: from memory, or read (verified) from the prepared file."""
    if name in prepared:
        out = np.asarray(prepared[name])[rows]
    elif not len(rows):
        out = np.zeros((0, 17, 3), np.float32)
    else:
        return read_prepared(prepared.path, columns=[name], rows=rows, stream=stream)[name]
    if stream is not None:
        stream(out, len(out))
    return out


def selection_columns(protocol: Protocol) -> list[str]:
    """The columns a protocol's row selection reads."""
    sel = protocol.selection
    cols = (["subject"] if sel.subjects else []) + (["frame"] if sel.frame_stride > 1 else []) + \
        (["valid"] if sel.valid_only else [])
    for ex in sel.exclude:
        cols += [k for k in ("subject", "sequence", "camera", "action") if getattr(ex, k) is not None]
    return list(dict.fromkeys(cols))


def prepare_command(protocol: Protocol, out: str | os.PathLike) -> str:
    """The `posebench prepare` command that writes the file a protocol scores."""
    cmd = f"posebench prepare {protocol.dataset} --src RAW --out {out}"
    if protocol.dataset == "mpi3dhp":
        cmd += f" --split {protocol.split}" + (f" --labels {protocol.labels[0]}" if protocol.labels else "")
    elif protocol.dataset == "h36m" and protocol.selection.subjects:
        cmd += " --subjects " + ",".join(map(str, protocol.selection.subjects))
    return cmd


def check_data(protocol: Protocol, data: PreparedData, columns: list[str] | None = None) -> None:
    """Refuse a prepared file of another dataset, split or label release, saying why (``columns``: the file's)."""
    where = data.path or "in-memory dataset"
    if data.dataset != protocol.dataset:
        raise DataMismatchError(f"{where} holds dataset {data.dataset!r}; protocol {protocol.name!r} scores {protocol.dataset!r}")
    if data.split != protocol.split:
        raise DataMismatchError(f"{where} holds split {data.split!r}; protocol {protocol.name!r} scores {protocol.split!r}")
    if protocol.labels:
        if data.labels is None:
            raise DataMismatchError(f"{where} does not record its label release; protocol {protocol.name!r} needs one of "
                                    f"{', '.join(protocol.labels)} (re-prepare with --labels)")
        if data.labels not in protocol.labels:
            others = [p.name for p in _protocols_for_labels(protocol.dataset, data.labels)]
            hint = f"; use {' or '.join(others)}" if others else ""
            raise DataMismatchError(f"{where} holds the {data.labels!r} label release; protocol {protocol.name!r} scores "
                                    f"only {', '.join(protocol.labels)}{hint}")
    if protocol.target not in (data.columns if columns is None else columns):
        raise DataMismatchError(f"{where} has no {protocol.target!r} column, which protocol {protocol.name!r} scores")


def _protocols_for_labels(dataset: str, labels: str) -> list[Protocol]:
    from posebench.protocols import list_protocols

    return [p for p in list_protocols() if p.dataset == dataset and labels in p.labels and len(p.labels) == 1]


def select_rows(protocol: Protocol, data: PreparedData) -> np.ndarray:
    """Sorted indices of the rows the protocol scores."""
    sel = protocol.selection
    keep = np.ones(len(data), dtype=bool)
    if sel.subjects:
        keep &= np.isin(data["subject"], sel.subjects)
    if sel.frame_stride > 1:
        keep &= data["frame"] % sel.frame_stride == 0
    if sel.valid_only:
        keep &= data["valid"].astype(bool)
    for ex in sel.exclude:
        hit = np.ones(len(data), dtype=bool)
        for key in ("subject", "sequence", "camera", "action"):
            value = getattr(ex, key)
            if value is not None:
                hit &= data[key] == value
        keep &= ~hit
    return np.flatnonzero(keep)


def group_codes(data: PreparedData, rows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{key: (codes, labels)} of every grouping key the data has, over ``rows``; `take` = S<subject>/<sequence>."""
    out = {k: factorize(np.asarray(data[k])[rows]) for k in GROUP_KEYS if k in data}
    if "take" not in out and "subject" in out and "sequence" in out:
        (sc, sl), (qc, ql) = out["subject"], out["sequence"]
        combo = sc.astype(np.int64) * len(ql) + qc
        uniq, inv = np.unique(combo, return_inverse=True)
        labels = np.array([f"S{sl[u // len(ql)]}/{ql[u % len(ql)]}" for u in uniq.tolist()], dtype=object)
        codes, order = factorize(labels)
        out["take"] = (codes[inv.reshape(-1)], order)
    return out

"""Protocol x prepared data x predictions -> Result (per-row, per-joint errors with provenance).

Re-exported as :func:`posebench.evaluate`. Everything a report needs later (confidence intervals, comparisons,
tables) is recomputed from the stored per-joint errors, never by re-evaluating.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from posebench import align as _align
from posebench import metrics as _metrics
from posebench.data import PreparedData, PreparedFileError, data_root, read_prepared
from posebench.errors import PosebenchError
from posebench.io_utils import arrays_hash, file_sha256
from posebench.ceiling import ceiling, target_hint
from posebench.importers import finish, import_predictions
from posebench.predictions import PredictionsError, check_predictions, match_index, write_predictions
from posebench.protocols import Protocol, load_protocol
from posebench.results import Result, build_result, new_run_id
from posebench.skeleton import ROOT

GROUP_KEYS = ("action", "take", "sequence", "activity", "scene", "subject", "camera")
TEMPLATE_KEYS = ("subject", "sequence", "camera", "frame", "activity")


class DataMismatchError(PosebenchError):
    """The prepared data is not what the protocol scores (wrong dataset, split or label release)."""


def resolve_data(protocol: Protocol, data: str | os.PathLike | PreparedData | None) -> PreparedData:
    """The prepared dataset a protocol scores: an in-memory dataset, a .h5 file, or a data folder."""
    if isinstance(data, PreparedData):
        check_data(protocol, data)
        return data
    if data is not None and str(data).endswith(".h5"):
        path = Path(data)
    else:
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
        path = found[0]
    prepared = read_prepared(path)
    check_data(protocol, prepared)
    return prepared


def prepare_command(protocol: Protocol, out: str | os.PathLike) -> str:
    """The `posebench prepare` command that writes the file a protocol scores."""
    cmd = f"posebench prepare {protocol.dataset} --src RAW --out {out}"
    if protocol.dataset == "mpi3dhp":
        cmd += f" --split {protocol.split}" + (f" --labels {protocol.labels[0]}" if protocol.labels else "")
    elif protocol.dataset == "h36m" and protocol.selection.subjects:
        cmd += " --subjects " + ",".join(map(str, protocol.selection.subjects))
    return cmd


def check_data(protocol: Protocol, data: PreparedData) -> None:
    """Refuse a prepared file of another dataset, split or label release, saying why."""
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
    if protocol.target not in data:
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


def prepare_poses(protocol: Protocol, pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root-centre both skeletons and apply the protocol's prediction rescaling: the poses exactly as scored."""
    gt = _align.root_centre(np.asarray(gt, dtype=np.float64), ROOT)
    pred = _align.root_centre(np.asarray(pred, dtype=np.float64), ROOT)
    if protocol.rescale == "knee_neck_920":
        pred = _align.knee_neck_rescale(pred, 920.0)
    return pred, gt


def compute_errors(protocol: Protocol, pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Per-joint errors (N, J_scored) for every metric of the protocol, after its rescaling and alignments."""
    pred, gt = prepare_poses(protocol, pred, gt)
    cache: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
    out = {}
    for m in protocol.metrics:
        key = (m.align, m.fit_joints if m.align != "none" else ())
        if key not in cache:
            cache[key] = _metrics.joint_errors(pred, gt, align=m.align, fit_joints=list(m.fit_joints))
        out[m.name] = cache[key][:, list(m.joints)]
    return out


def _group_columns(data: PreparedData, rows: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for key in GROUP_KEYS:
        if key in data:
            col = np.asarray(data[key])[rows]
            out[key] = np.array([str(x) for x in col], dtype=object)
    if "take" not in out and "subject" in data and "sequence" in data:
        s, q = np.asarray(data["subject"])[rows], np.asarray(data["sequence"])[rows]
        out["take"] = np.array([f"S{a}/{b}" for a, b in zip(s, q)], dtype=object)
    return out


def evaluate(predictions: Any, protocol: str | Protocol = "mpi3dhp-corrected",
             data: str | os.PathLike | PreparedData | None = None, *, index: np.ndarray | None = None,
             results_dir: str | os.PathLike | None = None, save: bool = False,
             model: Mapping[str, Any] | None = None, check_units: bool = True, from_format: str | None = None,
             joint_order: str | None = None, run_name: str | None = None) -> Result:
    """Score predictions under a protocol.

    ``predictions``: a predictions file path, an (M,17,3) array with ``index`` (rows of the prepared file), or
    a ``(joints3d, index)`` pair. An array without ``index`` must hold exactly the selected rows, in order.
    ``from_format`` (CLI ``--from``): the file's layout (posebench, videopose3d, mmpose, mpi-mat; default:
    detected); ``joint_order``: canonical, h36m17 or mpi17 (default: the layout's own). Joints that fit another
    known order much better than the declared one are refused, naming it. ``run_name`` (CLI ``--name``) labels the
    run in its id, leaderboards, tables and reports (default: the model's name or the predictions file's stem).
    ``data``: a data folder (default $POSEBENCH_DATA or ./data), a prepared .h5 file, or an in-memory
    :class:`PreparedData` (e.g. float64 arrays). With ``save=True`` the result is written under
    ``results_dir/runs/`` (default $POSEBENCH_RESULTS or ./posebench-results).
    """
    protocol = load_protocol(protocol)
    prepared = resolve_data(protocol, data)
    rows = select_rows(protocol, prepared)
    if len(rows) == 0:
        raise DataMismatchError(f"protocol {protocol.name!r} selects no rows of {prepared.path or 'the dataset'}")
    source: dict[str, Any] = {}
    if isinstance(predictions, (str, os.PathLike)):
        imported = import_predictions(predictions, prepared, rows, from_format, joint_order)
        try:
            joints, idx = check_predictions(imported.joints3d, imported.index, check_units=check_units)
        except PredictionsError as e:
            raise PredictionsError(f"{predictions}: {e}") from None
        source = {"path": str(predictions), "sha256": file_sha256(predictions)}
        if imported.fmt != "posebench" or imported.joint_order != "canonical":
            source.update(format=imported.fmt, joint_order=imported.joint_order, scale=imported.scale)
    else:
        if isinstance(predictions, tuple):
            predictions, index = predictions
        if index is None:
            if len(predictions) != len(rows):
                raise ValueError(f"predictions hold {len(predictions)} rows but the protocol selects {len(rows)}; "
                                 f"pass index= (rows of the prepared file)")
            index = rows
        joints, idx = check_predictions(predictions, index, check_units=False)
        joints = finish(joints, idx, "posebench", joint_order or "canonical", "predictions").joints3d
        joints, idx = check_predictions(joints, idx, check_units=check_units)
        source = {"path": None, "sha256": arrays_hash({"joints3d": joints, "index": idx})}
    where = match_index(idx, rows, len(prepared))
    pred = joints[where]
    gt = np.asarray(prepared[protocol.target])[rows]
    errors = compute_errors(protocol, pred, gt)
    groups = _group_columns(prepared, rows)
    result = build_result(protocol, prepared, rows, errors, groups,
                          predictions=None if model else source, model=dict(model) if model else None)
    if run_name is not None:
        if not str(run_name).strip():
            raise PosebenchError("a run name must not be blank")
        result.meta["name"] = str(run_name).strip()
        result.meta["run_id"] = new_run_id(protocol.name, result.meta["name"])
    gt_errors = None if protocol.rescale == "none" else compute_errors(protocol, gt, gt)
    result.meta["ceiling"] = ceiling(protocol, rows, groups, gt_errors)
    hint = target_hint(protocol, prepared, rows, pred)
    if hint:
        result.meta["hints"] = [hint]
    if save:
        result.save(results_dir)
    return result


def convert_predictions(path: str | os.PathLike, out: str | os.PathLike, protocol: str | Protocol,
                        data: str | os.PathLike | PreparedData | None = None, from_format: str | None = None,
                        joint_order: str | None = None) -> int:
    """Write ``path`` (any known layout) as a plain posebench predictions file ``out``; returns the rows written."""
    protocol = load_protocol(protocol)
    prepared = resolve_data(protocol, data)
    rows = select_rows(protocol, prepared)
    imported = import_predictions(path, prepared, rows, from_format, joint_order)
    joints, idx = check_predictions(imported.joints3d, imported.index)
    match_index(idx, np.array([], dtype=np.int64), len(prepared))  # range and duplicates, before writing
    write_predictions(out, joints, idx)
    return len(idx)


def make_template(protocol: str | Protocol, data: str | os.PathLike | PreparedData | None = None) -> dict[str, np.ndarray]:
    """The inputs a model may use for each row the protocol scores (never the 3D ground truth), with the keys
    that identify it: subject, sequence, camera, frame (and activity on MPI-INF-3DHP)."""
    protocol = load_protocol(protocol)
    prepared = resolve_data(protocol, data)
    rows = select_rows(protocol, prepared)
    j2d = np.asarray(prepared["joints2d"], dtype=np.float64)[rows]
    cols: dict[str, np.ndarray] = {
        "index": rows.astype(np.int64),
        "image": np.asarray(prepared["image"], dtype=object)[rows],
        "intrinsics": np.asarray(prepared["intrinsics"], dtype=np.float64)[rows],
        "joints2d": j2d,
        "box": np.concatenate([j2d.min(axis=1), j2d.max(axis=1)], axis=1),
    }
    # Keys to join a model's own outputs on without opening the prepared file.
    for key in TEMPLATE_KEYS:
        if key in prepared and (key != "activity" or protocol.dataset == "mpi3dhp"):
            col = np.asarray(prepared[key])[rows]
            cols[key] = col.astype(object) if col.dtype.kind in "OUS" else col.astype(np.int64)
    if "root_depth" in protocol.granted:
        cols["root_depth"] = np.asarray(prepared[protocol.target], dtype=np.float64)[rows, ROOT, 2]
    return cols


def image_root(data: PreparedData) -> str:
    """The folder that a prepared file's image paths are relative to (DATA/<dataset>/)."""
    return str(Path(data.path).parent) if data.path else ""


def predict_rows(model: Any, template: Mapping[str, np.ndarray], root: str, batch_size: int = 64,
                 progress: bool = True, desc: str = "predicting") -> np.ndarray:
    """Run ``model.predict`` over template rows in batches; (M,17,3) camera-space mm."""
    n = len(template["index"])
    out = np.empty((n, 17, 3))
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for s in starts:
        batch = {k: v[s:s + batch_size] for k, v in template.items()}
        batch["image_root"] = root
        out[s:s + batch_size] = model.predict(batch)
    return out


def evaluate_model(name: str, protocol: str | Protocol, data: str | os.PathLike | None = None, *,
                   checkpoint: str | None = None, device: str | None = None, batch_size: int = 64,
                   results_dir: str | os.PathLike | None = None, save: bool = False, progress: bool = True,
                   predictions_out: str | os.PathLike | None = None, run_name: str | None = None,
                   **options: Any) -> Result:
    """Run a registered model over the protocol's rows and score it.

    With ``predictions_out`` the predictions are also kept as a predictions file (recorded in the run), so
    reports can draw worst cases and anyone can re-score them.
    """
    from posebench.models import create_model

    protocol = load_protocol(protocol)
    prepared = resolve_data(protocol, data)
    template = make_template(protocol, prepared)
    model = create_model(name, protocol=protocol, data=data_root(data) if not isinstance(data, PreparedData) else data,
                         checkpoint=checkpoint, device=device, **options)
    out = predict_rows(model, template, image_root(prepared), batch_size, progress, f"{name} on {protocol.name}")
    info = {"name": getattr(model, "name", name), "checkpoint": checkpoint,
            "checkpoint_hash": getattr(model, "checkpoint_hash", None), "options": options}
    result = evaluate(out, protocol, prepared, index=template["index"], model=info, run_name=run_name)
    if predictions_out is not None:
        write_predictions(predictions_out, out, template["index"])
        result.meta["predictions"] = {"path": str(predictions_out), "sha256": file_sha256(predictions_out)}
    if save:
        result.save(results_dir)
    return result

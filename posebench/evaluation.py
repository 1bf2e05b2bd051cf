"""Protocol x prepared data x predictions -> Result (per-row, per-joint errors with provenance).

Re-exported as :func:`posebench.evaluate`. Everything a report needs later (confidence intervals, comparisons,
tables) is recomputed from the stored per-joint errors, never by re-evaluating.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from posebench.data import PreparedData, column_names, data_root, prepared_rows, read_prepared
from posebench.devices import check_device
from posebench.errors import PosebenchError
from posebench.io_utils import arrays_hash, file_sha256
from posebench import _heap
from posebench.ceiling import TARGETS as HINT_TARGETS, ceiling, target_hint
from posebench.importers import detect_format, finish, import_predictions
from posebench.predictions import PredictionsError, check_millimetres, check_predictions, match_index, write_predictions
from posebench.protocols import Protocol, load_protocol
from posebench.results import Result, build_result, new_run_id
from posebench.scoring import (SCORE_BLOCK_ROWS, ArrivingRows, compute_errors, prepare_poses, score_rows,  # noqa: F401
                               scoring_threads)
from posebench.selection import (GROUP_KEYS, DataMismatchError, check_data, data_path, group_codes,  # noqa: F401
                                 load_column, load_scored, load_selection, load_target, prepare_command,
                                 resolve_data, select_rows, selection_columns)
from posebench.skeleton import ROOT

TEMPLATE_KEYS = ("subject", "sequence", "camera", "frame", "activity")


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
    ``results_dir/runs/`` (default $POSEBENCH_RESULTS or ./posebench-results) and is the run as stored: its
    ``errors`` are the stored float32 values (as when it is loaded again), its summary and breakdowns the exact
    float64 figures; without, ``errors`` are float64.
    """
    protocol = load_protocol(protocol)
    _heap.one_arena()  # before the threads allocate: what one frees, another reuses (see posebench._heap)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the predictions file's SHA-256, on a thread of its own
        is_file = isinstance(predictions, (str, os.PathLike)) and Path(predictions).is_file()  # never a FIFO or device
        started = []
        once = threading.Lock()

        def digest() -> Any:
            """Start hashing the predictions file (once; from any thread); its future."""
            with once:
                if not started:
                    started.append(pool.submit(file_sha256, predictions))
                return started[0]

        try:
            return _evaluate(predictions, protocol, data, index, digest if is_file else None, results_dir, save,
                             model, check_units, from_format, joint_order, run_name)
        finally:
            for job in started:
                job.cancel()


# Columns the importers of other tools' layouts match rows on (read only for those layouts).
IMPORT_KEYS = ("subject", "sequence", "camera", "frame", "image", "valid", "activity")


def _evaluate(predictions: Any, protocol: Protocol, data: Any, index: np.ndarray | None, digest: Any,
              results_dir: str | os.PathLike | None, save: bool, model: Mapping[str, Any] | None,
              check_units: bool, from_format: str | None, joint_order: str | None, run_name: str | None) -> Result:
    if run_name is not None and not str(run_name).strip():
        raise PosebenchError("a run name must not be blank")
    with ThreadPoolExecutor(max_workers=1) as pool:  # the predictions are read and checked on a second thread
        early = _start_early(pool, predictions, protocol, data, index, check_units, from_format, joint_order)
        if early is not None and digest is not None:  # hashed once read, while the target is still being read
            early.add_done_callback(lambda done: done.exception() is None and digest())
        prepared, rows = load_selection(protocol, data)  # a data error comes first, then a predictions error
        if len(rows) == 0:
            raise DataMismatchError(f"protocol {protocol.name!r} selects no rows of {prepared.path or 'the dataset'}")
        _heap.trim()  # the selection reader's freed buffers go back before the large arrays are made
        if early is not None:  # a plain posebench file: read from the start, beside the selection; each block
            arriving = ArrivingRows(len(rows))  # is scored as soon as its rows of the target are read
            scored = pool.submit(_score, protocol, lambda f=early: f.result()[:2], arriving, rows, len(prepared), save)
            try:
                gt, failed = load_target(protocol, prepared, rows, stream=arriving.put), None
            except Exception as e:  # noqa: BLE001 - re-raised below, after any predictions error
                arriving.fail()
                gt, failed = None, e
            joints, idx, source = early.result()
            del early  # a future keeps its result
            if failed is not None:
                raise failed
            joints, pred_at, errors, per_row = scored.result()  # scores stand: the target is read and verified
            del scored, arriving
        else:  # other layouts match rows on the selection: the scored column is read beside them
            target = pool.submit(load_target, protocol, prepared, rows)
            joints, idx, source = _read_predictions(predictions, prepared, rows, index, check_units, from_format,
                                                    joint_order)
            gt = target.result()
            del target  # a future keeps its result: the column is freed with gt, not at the end
            joints, pred_at, errors, per_row = _score(protocol, lambda: (joints, idx), gt, rows, len(prepared), save)
    hashing = digest() if digest is not None else None  # if not started yet: now, when a core is free
    gt_errors = None if protocol.rescale == "none" else compute_errors(protocol, gt, gt)
    hint = _target_hint(protocol, prepared, rows, joints, pred_at, gt)
    del joints, gt
    codes = group_codes(prepared, rows)
    result = build_result(protocol, prepared, rows, errors, codes, predictions=None if model else source,
                          model=dict(model) if model else None, per_row=per_row)
    del errors, per_row
    if run_name is not None:
        result.meta["name"] = str(run_name).strip()
        result.meta["run_id"] = new_run_id(protocol.name, result.meta["name"])
    result.meta["ceiling"] = ceiling(protocol, rows, codes, gt_errors)
    del gt_errors
    if hint:
        result.meta["hints"] = [hint]
    if hashing is not None:  # done beside the summary, the ceiling and the hint
        source["sha256"] = hashing.result()
        if not model:
            result.meta["predictions"]["sha256"] = source["sha256"]
    if save:
        result.save(results_dir)
    return result


def _score(protocol: Protocol, predictions: Callable[[], tuple[np.ndarray, np.ndarray]], gt: np.ndarray | ArrivingRows,
           rows: np.ndarray, n_rows: int, save: bool
           ) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """(joints, their positions for the selected rows or None, errors, per-row values or None): the predictions
    matched to the selected rows and scored against ``gt`` (which may still be arriving)."""
    joints, idx = predictions()
    where = match_index(idx, rows, n_rows)
    pred_at = None if np.array_equal(where, np.arange(len(joints))) else where  # blocks gather their own rows
    if len(rows) > SCORE_BLOCK_ROWS:
        _heap.reuse_freed()  # the scoring blocks' temporaries then reuse their pages (2.5x faster a block)
    if save:  # the run as it will be stored: float32 errors, with the exact float64 per-row values
        errors, per_row = score_rows(protocol, joints, gt, pred_at=pred_at)
    else:
        errors, per_row = compute_errors(protocol, joints, gt, pred_at=pred_at), None
    return joints, pred_at, errors, per_row


class _RowCount:
    """Stands for a prepared file before its columns are read: the plain predictions reader needs only its length
    (a file claiming more rows is refused from its metadata, before anything is read)."""

    path = None

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def _start_early(pool: ThreadPoolExecutor, predictions: Any, protocol: Protocol, data: Any, index: Any,
                 check_units: bool, from_format: str | None, joint_order: str | None) -> Any:
    """The future of a plain posebench predictions file's read and checks, started before the selection is read;
    None for arrays, in-memory data and other layouts (they need the selection first)."""
    if not isinstance(predictions, (str, os.PathLike)) or isinstance(data, PreparedData):
        return None
    if (from_format or detect_format(predictions)) != "posebench":
        return None
    try:
        n = prepared_rows(data_path(protocol, data))
    except PosebenchError:
        return None  # the selection's own read says what is wrong with the data
    return pool.submit(_read_predictions, predictions, _RowCount(n), np.zeros(0, np.int64), index, check_units,
                       "posebench", joint_order)


def _read_predictions(predictions: Any, prepared: Any, rows: np.ndarray, index: np.ndarray | None,
                      check_units: bool, from_format: str | None, joint_order: str | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(joints (M, 17, 3) canonical mm, index (M,), the predictions' provenance) from a file or arrays, checked."""
    source: dict[str, Any] = {}
    if isinstance(predictions, (str, os.PathLike)):
        fmt = from_format or detect_format(predictions)  # detected once: the importer and the join columns agree
        imported = import_predictions(predictions, _with_columns(prepared, IMPORT_KEYS, fmt), rows, fmt, joint_order)
        try:  # a plain canonical file was checked whole (units included) as it was read: not a second time
            joints, idx = (imported.joints3d, imported.index) if imported.checked else \
                check_predictions(imported.joints3d, imported.index, check_units=check_units)
        except PredictionsError as e:
            raise PredictionsError(f"{predictions}: {e}") from None
        source = {"path": str(predictions), "sha256": None}
        if imported.fmt != "posebench" or imported.joint_order != "canonical":
            source.update(format=imported.fmt, joint_order=imported.joint_order, scale=imported.scale)
        del imported
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
        if check_units:  # shapes, values and index were checked above; reordering changes only the bones
            check_millimetres(joints)
        source = {"path": None, "sha256": arrays_hash({"joints3d": joints, "index": idx})}
    return joints, idx, source


def _with_columns(prepared: PreparedData, names: tuple[str, ...], fmt: str) -> PreparedData:
    """``prepared`` with the listed columns it lacks read in (verified), for importers that match rows on them."""
    if prepared.path is None or fmt == "posebench":
        return prepared
    missing = [n for n in names if n not in prepared and n in column_names(prepared.path)]
    if not missing:
        return prepared
    extra = read_prepared(prepared.path, columns=missing)
    return PreparedData({**prepared.columns, **extra.columns}, prepared.attrs, prepared.path)


# The hint compares the predictions with both targets on a sample: HINT_WINDOWS runs of HINT_RUN consecutive
# selected rows, evenly spread, so only a few chunks of each column are decompressed. A heuristic needs no more.
HINT_WINDOWS, HINT_RUN = 4, 256


def hint_sample(n: int) -> np.ndarray:
    """Positions (sorted, unique) of the hint's sample among ``n`` selected rows."""
    if n <= HINT_WINDOWS * HINT_RUN:
        return np.arange(n)
    starts = np.linspace(0, n - HINT_RUN, HINT_WINDOWS).astype(np.int64)
    return np.unique((starts[:, None] + np.arange(HINT_RUN)[None, :]).ravel())


def _target_hint(protocol: Protocol, prepared: PreparedData, rows: np.ndarray, pred: np.ndarray,
                 pred_at: np.ndarray | None, gt: np.ndarray) -> str | None:
    """target_hint on a sample of the selected rows: the scored target ``gt`` (verified, at ``rows``) and the
    other target read only there; the predictions of those rows are ``pred[pred_at]`` (``pred`` when None).

    The other target's sample is read without hash verification: it can only change a hint's wording, never a
    score.
    """
    other = next((t for t in HINT_TARGETS if t != protocol.target), None)
    if protocol.rescale != "none" or protocol.target not in HINT_TARGETS or other is None:
        return None
    if other not in prepared and (prepared.path is None or other not in column_names(prepared.path)):
        return None
    pick = hint_sample(len(rows))
    if other in prepared:
        theirs = np.asarray(prepared[other])[rows[pick]]
    else:
        theirs = read_prepared(prepared.path, columns=[other], rows=rows[pick], verify=False)[other]
    targets = {protocol.target: np.asarray(gt)[pick], other: theirs}
    return target_hint(protocol, targets, np.arange(len(pick)), pred[pick if pred_at is None else pred_at[pick]])


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
    that identify it: subject, sequence, camera, frame (and activity on MPI-INF-3DHP).

    From a file only the selection columns and, at the selected rows, the model inputs are read (verified).
    """
    protocol = load_protocol(protocol)
    prepared, rows = load_selection(protocol, data)
    names = ["image", "intrinsics", "joints2d"] + ([protocol.target] if "root_depth" in protocol.granted else [])
    if all(n in prepared for n in names):
        inputs = {n: np.asarray(prepared[n])[rows] for n in names}
    else:
        inputs = read_prepared(prepared.path, columns=names, rows=rows).columns
    j2d = np.asarray(inputs["joints2d"], dtype=np.float64)
    cols: dict[str, np.ndarray] = {
        "index": rows.astype(np.int64),
        "image": np.asarray(inputs["image"], dtype=object),
        "intrinsics": np.asarray(inputs["intrinsics"], dtype=np.float64),
        "joints2d": j2d,
        "box": np.concatenate([j2d.min(axis=1), j2d.max(axis=1)], axis=1),
    }
    # Keys to join a model's own outputs on without opening the prepared file.
    for key in TEMPLATE_KEYS:
        if key in prepared and (key != "activity" or protocol.dataset == "mpi3dhp"):
            col = np.asarray(prepared[key])[rows]
            cols[key] = col.astype(object) if col.dtype.kind in "OUS" else col.astype(np.int64)
    if "root_depth" in protocol.granted:
        cols["root_depth"] = np.asarray(inputs[protocol.target], dtype=np.float64)[:, ROOT, 2]
    return cols


def image_root(data: PreparedData) -> str:
    """The folder that a prepared file's image paths are relative to (DATA/<dataset>/)."""
    return str(Path(data.path).parent) if data.path else ""


def predict_rows(model: Any, template: Mapping[str, np.ndarray], root: str, batch_size: int = 64,
                 progress: bool = True, desc: str = "predicting") -> np.ndarray:
    """Run ``model.predict`` over template rows in batches; (M,17,3) camera-space mm."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch size must be a whole number >= 1, got {batch_size!r}")
    n = len(template["index"])
    out = np.full((n, 17, 3), np.nan)  # a row the model never filled stays NaN and is refused, never scored
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for s in starts:
        batch = {k: v[s:s + batch_size] for k, v in template.items()}
        batch["image_root"] = root
        got = np.asarray(model.predict(batch))
        want = (len(batch["index"]), 17, 3)
        if got.shape != want:
            raise PredictionsError(f"model {getattr(model, 'name', model)!r} returned shape {got.shape} for a batch "
                                   f"of {want[0]} rows, expected {want}")
        out[s:s + batch_size] = got
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

    device = check_device(device)  # before any data is read or weights loaded
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

"""The run store (format 2): float32 errors, group codes, aggregates; tampered runs are found and never ranked."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import posebench
from posebench import aggregates as agg
from posebench import report
from posebench.data import PreparedData
from posebench.protocols import load_protocol
from posebench.report.compare import compare_rows
from posebench.results import RunSkippedWarning, list_runs, load_result
from posebench.runstore import stored_errors

FIXTURE = Path(__file__).parent / "fixtures" / "result-v1"
ACTIONS = ("Directions", "Eating", "Greeting", "Posing", "Sitting", "Walking")


def _data(rng: np.random.Generator) -> PreparedData:
    rows = [(s, f"{a} {k}", a, c) for s in (9, 11) for a in ACTIONS for k in (1, 2) for c in (1, 2, 3, 4)]
    gt = rng.normal(0, 250, (len(rows), 17, 3)) + np.array([0.0, 0.0, 4500.0])
    return PreparedData.from_arrays("h36m", "test", joints3d=gt, subject=np.array([r[0] for r in rows]),
                                    camera=np.array([r[3] for r in rows]), frame=np.zeros(len(rows), np.int64),
                                    action=np.array([r[2] for r in rows]), sequence=np.array([r[1] for r in rows]))


@pytest.fixture()
def runs(tmp_path):
    rng = np.random.default_rng(1)
    data = _data(rng)
    gt = data["joints3d"]
    out = {}
    for name, noise in (("good", 20.0), ("weak", 60.0)):
        r = posebench.evaluate(gt + rng.normal(0, noise, gt.shape), "h36m", data, save=True, results_dir=tmp_path,
                               model={"name": name, "checkpoint": None, "checkpoint_hash": None, "options": {}})
        out[name] = r
    return tmp_path, out


def test_stored_run_format(runs):
    folder, out = runs
    r = out["good"]
    meta = json.loads(r.path.read_text())
    assert meta["format_version"] == 2 and len(meta["errors_sha256"]) == len(meta["aggregates_sha256"]) == 64
    with h5py.File(folder / "runs" / meta["errors_file"]) as f:
        assert f["errors/mpjpe"].dtype == np.float32 and f["errors/mpjpe"].compression is None
        assert f["errors/mpjpe"].chunks[0] <= 16384
        assert f["groups/action"].dtype == np.uint8
        assert [x.decode() for x in f["labels/action"][()]] == sorted(ACTIONS)
    again = load_result(r.path, verify="full")
    assert again.problems == []
    assert again.groups["action"].tolist() == r.groups["action"].tolist()
    for m in r.protocol.metric_names:  # figures from the aggregates alone equal the float64 summary
        assert again.aggregates.value(m) == pytest.approx(r.summary[m], rel=1e-7)
    assert again.table("action").loc["Eating", "mpjpe"] == pytest.approx(r.table("action").loc["Eating", "mpjpe"],
                                                                         rel=1e-7)


def test_float32_storage_keeps_threshold_counts():
    p = load_protocol("h36m")
    e = np.array([[150.0 - 1e-6, 150.0, 149.0, 5.0 - 1e-9] + [1.0] * 13])
    s = stored_errors(p, {"pck": e, "auc": e, "mpjpe": e})
    for m in ("pck", "auc"):
        assert s[m].dtype == np.float32
        assert agg.per_row(s[m], p, m)[0] == agg.per_row(e, p, m)[0]
    assert s["mpjpe"][0, 0] == np.float32(150.0)  # a mean keeps plain rounding


def test_leaderboard_reads_aggregates_only(runs):
    folder, out = runs
    for f in (folder / "runs").glob("*.errors.h5"):
        f.unlink()  # the leaderboard must not need them
    (board,) = report.build_leaderboard(list_runs(folder, protocol="h36m"), protocol="h36m", n_boot=200)
    rows = board.rows.set_index("method")
    assert rows.loc["good", "rank"] == 1 and rows.loc["good", "mpjpe"] == pytest.approx(out["good"].summary["mpjpe"])


def test_edited_summary_is_shown_tampered_and_never_ranked(runs):
    folder, out = runs
    path = out["weak"].path
    meta = json.loads(path.read_text())
    meta["summary"]["mpjpe"] = 1.234
    path.write_text(json.dumps(meta))
    weak = load_result(path)
    assert weak.tampered and "summary.mpjpe says 1.234 but its errors give" in weak.problems[0]
    (board,) = report.build_leaderboard(list_runs(folder), protocol="h36m", n_boot=200)
    rows = board.rows.set_index("method")
    assert rows.loc["weak", "status"] == "tampered" and pd_isna(rows.loc["weak", "rank"])
    assert rows.loc["weak", "mpjpe"] == pytest.approx(out["weak"].summary["mpjpe"])  # the true figure
    assert rows.loc["good", "rank"] == 1 and "TAMPERED: summary.mpjpe" in rows.loc["weak", "note"]
    with pytest.raises(report.CompareError, match="TAMPERED"):
        report.compare_runs(out["good"], weak)


def pd_isna(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_edited_aggregates_or_errors_are_found(runs):
    folder, out = runs
    meta = json.loads(out["good"].path.read_text())
    agg_path = folder / "runs" / meta["aggregates_file"]
    doc = json.loads(agg_path.read_text())
    doc["metrics"]["mpjpe"]["sums"][0][0] -= 1000.0
    agg_path.write_text(json.dumps(doc))
    assert "is not the aggregates file the run recorded" in load_result(out["good"].path).problems[0]
    meta = json.loads(out["weak"].path.read_text())
    with h5py.File(folder / "runs" / meta["errors_file"], "r+") as f:
        f["errors/mpjpe"][0] = 0.0
    assert load_result(out["weak"].path).problems == []  # the cheap check reads no per-row data
    full = load_result(out["weak"].path, verify="full").problems
    assert any("is not the errors file the run recorded" in p for p in full)
    assert "its aggregates do not match its per-row errors" in full


@pytest.mark.parametrize("text", ["[]", "{}", "{not json", '{"run_id": "x", "protocol": [], "errors_file": "y"}'])
def test_malformed_run_file_is_skipped_with_a_warning_naming_it(runs, text):
    folder, _ = runs
    bad = folder / "runs" / "h36m--bad.json"
    bad.write_text(text)
    with pytest.warns(RunSkippedWarning, match=r"h36m--bad\.json"):
        found = list_runs(folder, protocol="h36m")
    assert sorted(report.run_label(r) for r in found) == ["good", "weak"]


def test_list_runs_reads_only_the_protocol_asked(runs, tmp_path):
    folder, _ = runs
    (folder / "runs" / "mpi3dhp--x.json").write_text("{not json")  # never opened for h36m
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list_runs(folder, protocol="h36m")) == 2


def test_compare_pairs_from_aggregates_as_from_rows(runs):
    _, out = runs
    a, b = (load_result(out[k].path) for k in ("good", "weak"))
    fast, _ = report.compare_runs(a, b, n_boot=300)
    cells = {m: compare_rows(a, b, [m], 300, 0, [])[m] for m in a.protocol.metric_names}
    for m, c in cells.items():
        assert fast.loc[m, "A-B"] == pytest.approx(c.difference, rel=1e-9)
        assert fast.loc[m, "p"] == c.p_value
        assert (fast.loc[m, "ci_low"], fast.loc[m, "ci_high"]) == pytest.approx((c.low, c.high), rel=1e-6)


def test_v1_fixture_loads_untampered_with_aggregates(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "r")
    found = list_runs(tmp_path / "r")
    assert len(found) == 3 and all(not r.problems for r in found)
    for r in found:
        assert r.errors[r.protocol.headline].dtype == np.float64
        assert r.aggregates.value(r.protocol.headline) == pytest.approx(r.summary[r.protocol.headline], rel=1e-12)
    meta = json.loads((tmp_path / "r" / "runs" / "h36m--good-model--fixture.json").read_text())
    meta["summary"]["mpjpe"] = 1.234
    (tmp_path / "r" / "runs" / "h36m--good-model--fixture.json").write_text(json.dumps(meta))
    assert load_result(tmp_path / "r" / "runs" / "h36m--good-model--fixture.json").tampered


def test_report_draws_worst_cases_from_the_drawn_prediction_rows_only(tmp_path):
    from posebench.data import write_prepared
    from posebench.predictions import write_predictions

    rng = np.random.default_rng(2)
    data = _data(rng)
    path = tmp_path / "test.h5"
    write_prepared(path, {**data.columns, "joints2d": np.zeros((len(data), 17, 2)), "intrinsics": np.ones((len(data), 4)),
                          "image": np.full(len(data), "")}, {"dataset": "h36m", "split": "test"})
    gt = data["joints3d"]
    pred = gt + rng.normal(0, 20, gt.shape)
    write_predictions(tmp_path / "p.h5", pred, np.arange(len(gt)))
    run = posebench.evaluate(tmp_path / "p.h5", "h36m", path, save=True, results_dir=tmp_path / "res")
    worst = set(np.argsort(-run.per_sample("mpjpe"))[:2].tolist())
    spare = next(i for i in range(len(gt)) if i not in np.argsort(-run.per_sample("mpjpe"))[:40])
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        f["joints3d"][spare] = np.nan  # a row the report does not draw: never read
    poses = report.load_poses(run, positions=np.array(sorted(worst)))
    assert not isinstance(poses, str) and poses[1].shape == (2, 17, 3)
    fig = report.worst_case_figure(run, 2)
    assert not isinstance(fig, str)
    with h5py.File(tmp_path / "p.h5", "r+") as f:
        f["joints3d"][sorted(worst)[0], 3] += 100.0  # one joint: not a translation
    assert "does not reproduce this run's errors" in report.load_poses(run, positions=np.array(sorted(worst)))

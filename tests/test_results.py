"""posebench.results: the run store (save, load, lookup), the typed run JSON, and the protocol's aggregates."""
from __future__ import annotations

import json
import shutil
import typing
from pathlib import Path

import numpy as np
import pytest

from posebench import metrics
from posebench.errors import PosebenchError
from posebench.protocols import MetricDef, load_protocol
from posebench.results import (DEFAULT_RESULTS, RESULTS_ENV, ResultFileError, RunLookupError, RunMeta, aggregate,
                               list_runs, load_result, per_sample, resolve_run, results_root)

FIXTURE = Path(__file__).parent / "fixtures" / "result-v1" / "runs"
GOOD = "h36m--good-model--fixture"


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    """A results folder holding a copy of the stored format-1 fixture runs."""
    shutil.copytree(FIXTURE, tmp_path / "res" / "runs")
    return tmp_path / "res"


def test_results_root_is_the_argument_then_the_environment_then_a_folder_outside_results(monkeypatch, tmp_path):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    assert results_root() == Path(DEFAULT_RESULTS) == Path("posebench-results")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "env"))
    assert results_root() == tmp_path / "env"
    assert results_root(tmp_path / "arg") == tmp_path / "arg"


def test_a_stored_run_reloads_and_saves_to_the_same_content(store, tmp_path):
    run = load_result(store / "runs" / f"{GOOD}.json")
    assert run.run_id == GOOD and run.protocol.name == "h36m"
    assert run.errors["mpjpe"].shape == (len(run.index), 17)
    assert run.aggregate("mpjpe") == pytest.approx(run.meta["summary"]["mpjpe"], rel=1e-12)
    path = run.save(tmp_path / "copy")
    again = load_result(path)
    np.testing.assert_array_equal(again.index, run.index)
    for name, e in run.errors.items():
        np.testing.assert_array_equal(again.errors[name], e)
    assert again.meta["summary"] == run.meta["summary"]
    assert sorted(again.groups) == sorted(run.groups)


def test_the_run_json_keys_are_the_typed_schema(store):
    keys = set(typing.get_type_hints(RunMeta))
    for path in sorted((store / "runs").glob("*.json")):
        meta = json.loads(path.read_text())
        assert set(meta) <= keys, set(meta) - keys
        assert set(RunMeta.__required_keys__) <= set(meta)


def test_lookup_by_id_prefix_and_path(store):
    assert resolve_run(GOOD, store).run_id == GOOD
    assert resolve_run("h36m--good", store).run_id == GOOD
    assert resolve_run(store / "runs" / f"{GOOD}.json").run_id == GOOD
    with pytest.raises(RunLookupError, match="ambiguous"):
        resolve_run("h36m--", store)
    with pytest.raises(RunLookupError, match="no run 'nope'"):
        resolve_run("nope", store)
    assert issubclass(RunLookupError, PosebenchError) and issubclass(RunLookupError, LookupError)
    assert [r.run_id for r in list_runs(store)] == sorted(p.stem for p in (store / "runs").glob("*.json"))
    assert list_runs(store / "empty") == []


def test_unreadable_or_newer_run_files_are_refused(tmp_path, store):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultFileError, match="not a readable result JSON"):
        load_result(bad)
    meta = json.loads((store / "runs" / f"{GOOD}.json").read_text())
    newer = store / "runs" / "newer.json"
    newer.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ResultFileError, match="newer than this posebench"):
        load_result(newer)
    (store / "runs" / f"{GOOD}.errors.h5").unlink()
    with pytest.raises(ResultFileError, match="cannot read the run's per-row errors"):
        load_result(store / "runs" / f"{GOOD}.json")


def test_aggregate_pools_frames_or_averages_group_means():
    values = np.array([1.0, 2.0, 6.0, 10.0])
    groups = {"action": np.array(["a", "a", "b", "c"])}
    frames = MetricDef("mpjpe", "none", (0,), (0,))
    actions = MetricDef("mpjpe", "none", (0,), (0,), aggregate="actions", group_by="action")
    assert aggregate(values, frames, groups) == pytest.approx(4.75)
    assert aggregate(values, actions, groups) == pytest.approx((1.5 + 6.0 + 10.0) / 3)
    assert aggregate(values, actions, groups, rows=np.array([0, 2])) == pytest.approx(3.5)
    assert np.isnan(aggregate(values, actions, groups, rows=np.array([], dtype=int)))
    with pytest.raises(ValueError, match="averages over 'action' groups, which the data lacks"):
        aggregate(values, actions, {})
    # the pure array function underneath
    assert metrics.aggregate(values, groups["action"]) == aggregate(values, actions, groups)


def test_per_sample_follows_the_metric_definition():
    errors = np.array([[100.0, 200.0], [10.0, 20.0]])
    protocol = load_protocol("h36m")
    mpjpe = protocol.metric("mpjpe")
    np.testing.assert_allclose(per_sample(errors, mpjpe), [150.0, 15.0])
    pck = MetricDef("pck", "none", (0, 1), (0, 1))
    np.testing.assert_allclose(per_sample(errors, pck), [0.5, 1.0])

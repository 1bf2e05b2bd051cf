"""Tampered ground truth and edited results: never scored, never ranked.

Prepared files are verified against their per-column content hashes and runs are recomputed from their
aggregates (whose hash the run JSON records), so every case here is refused or shown as tampered.
"""
from __future__ import annotations

import json
import shutil

import h5py
import pytest

from posebench.skeleton import ROOT
from tests.adversarial.conftest import HONEST_MPJPE, cli, one_line_error, tree


def _run(world, *extra):
    return cli("evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds, "--results-dir",
               world.path("results"), *extra)


def _add_40mm(path) -> str:
    """Shift every non-root joint by 40 mm along x, keeping every attribute (the old content_hash included)."""
    with h5py.File(path, "r+") as f:
        old = str(f.attrs["content_hash"])
        j = f["joints3d"][()]
        j[:, [k for k in range(17) if k != ROOT], 0] += 40.0
        f["joints3d"][...] = j
    return old


@pytest.mark.clear_error
def test_ground_truth_edited_in_place_is_refused(world):
    _add_40mm(world.prepared)
    before = tree(world.root)
    one_line_error(_run(world), str(world.prepared), "content hash")
    assert tree(world.root) == before


@pytest.mark.clear_error
def test_info_verify_names_the_mismatch(world):
    _add_40mm(world.prepared)
    one_line_error(cli("info", world.prepared, "--verify"), "content hash")


@pytest.mark.clear_error
def test_ground_truth_redirected_by_an_external_link_is_refused(world):
    other = world.path("other.h5")
    shutil.copy(world.prepared, other)
    with h5py.File(other, "r+") as f:
        f["joints3d"][...] = f["joints3d"][()] + 40.0
    with h5py.File(world.prepared, "r+") as f:
        del f["joints3d"]
        f["joints3d"] = h5py.ExternalLink(str(other), "/joints3d")
    before = tree(world.root)
    one_line_error(_run(world), f"{world.prepared}: dataset 'joints3d' is an external link to {other}:/joints3d")
    assert tree(world.root) == before


@pytest.mark.clear_error
def test_a_prepared_file_with_a_string_format_version_is_refused(world):
    with h5py.File(world.prepared, "r+") as f:
        f.attrs["format_version"] = "1"
    one_line_error(_run(world), "format_version '1' is not a whole number")


def _two_runs(world):
    assert _run(world).code == 0
    j = h5py.File(world.preds, "r")["joints3d"][()]
    idx = h5py.File(world.preds, "r")["index"][()]
    from posebench.predictions import write_predictions

    worse = world.path("worse.h5")
    j2 = j.copy()
    j2[:, 1:, 2] += 5.0  # every non-root joint 5 mm further off: a worse run
    write_predictions(worse, j2, idx)
    assert cli("evaluate", "-p", "h36m", "-d", world.data, "--predictions", worse, "--results-dir",
               world.path("results")).code == 0
    runs = sorted(world.path("results").glob("runs/*.json"))
    assert len(runs) == 2
    return runs


def _leaderboard(world):
    out = cli("leaderboard", "--results-dir", world.path("results"), "-p", "h36m", "--format", "json",
              "--n-boot", "50", "-d", world.data)
    assert out.code == 0, out.output
    return json.loads(out.output[out.output.index("["):out.output.rindex("]") + 1])[0]["rows"]


@pytest.mark.correct_result
def test_the_leaderboard_ranks_honest_runs_by_their_errors(world):
    _two_runs(world)
    rows = [r for r in _leaderboard(world) if r["kind"] == "run"]
    assert [r["method"] for r in rows] == ["preds", "worse"]
    assert rows[0]["mpjpe"] == pytest.approx(HONEST_MPJPE, abs=1e-4)


@pytest.mark.correct_result
def test_an_edited_summary_is_shown_as_tampered_and_never_ranked(world):
    runs = _two_runs(world)
    worse = next(p for p in runs if "worse" in p.name)
    meta = json.loads(worse.read_text())
    meta["summary"]["mpjpe"] = 1.234
    worse.write_text(json.dumps(meta))
    rows = {r["method"]: r for r in _leaderboard(world) if r["kind"] == "run"}
    assert rows["preds"]["rank"] == 1
    assert rows["worse"]["status"] != "ranked" and "tamper" in json.dumps(rows["worse"]).lower()


@pytest.mark.correct_result
@pytest.mark.parametrize("content", ["[]", "{}", '{"format_version": "1"}'])
def test_a_malformed_run_file_is_skipped_with_a_warning_naming_it(world, content):
    _two_runs(world)
    bad = world.path("results") / "runs" / "h36m--junk--20260101t000000-000000.json"
    bad.write_text(content)
    out = cli("leaderboard", "--results-dir", world.path("results"), "-p", "h36m", "--format", "md",
              "--n-boot", "50", "-d", world.data)
    assert out.code == 0 and bad.name in out.output and "Traceback" not in out.output

"""`posebench leaderboard`, `report` and `compare` on copies of the kept v1 runs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from posebench.cli import main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "result-v1"


@pytest.fixture()
def results(tmp_path):
    shutil.copytree(FIXTURE / "runs", tmp_path / "results" / "runs")
    return tmp_path / "results"


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_leaderboard_prints_each_format_and_rewrites_leaderboard_md(results):
    for fmt, probe in (("md", "| rank | method |"), ("latex", "\\begin{tabular}"), ("csv", "rank,method,"),
                       ("json", '"headline": "mpjpe"')):
        res = _run("leaderboard", "--results-dir", str(results), "--protocol", "h36m", "--format", fmt,
                   "--n-boot", "100")
        assert res.exit_code == 0, res.output + res.stderr
        assert probe in res.stdout
        assert "wrote" in res.stderr
    md = (results / "leaderboard.md").read_text()
    assert md.startswith("# Leaderboard") and "Do not edit by hand" in md and "| 1 | good-model |" in md
    assert "## mpi3dhp-corrected v1" in md  # the file holds every protocol whatever --protocol printed


def test_leaderboard_flags_runs_on_other_data(results, tmp_path):
    from posebench.data import write_prepared

    data = tmp_path / "data"
    n = 3
    import numpy as np

    write_prepared(data / "h36m" / "test.h5", {
        "joints3d": np.ones((n, 17, 3)), "joints2d": np.ones((n, 17, 2)), "intrinsics": np.ones((n, 4)),
        "subject": np.full(n, 9), "camera": np.zeros(n, np.int64), "frame": np.arange(n),
        "action": np.full(n, "Walking"), "sequence": np.full(n, "Walking 1"), "image": np.full(n, "")},
        {"dataset": "h36m", "split": "test"})
    res = _run("leaderboard", "--results-dir", str(results), "-p", "h36m", "--data", str(data), "--format", "json",
               "--n-boot", "100")
    rows = json.loads(res.stdout)[0]["rows"]
    local = [r for r in rows if r["kind"] == "run"]
    assert local and all(r["status"] == "stale" and "data hash" in r["note"] for r in local)


def test_report_and_compare(results, tmp_path):
    res = _run("report", "h36m--good", "--results-dir", str(results), "--out", str(tmp_path / "rep"), "--n-boot", "100")
    assert res.exit_code == 0, res.output + res.stderr
    assert "## Summary" in res.stdout and (tmp_path / "rep" / "by-action.tex").is_file()
    assert (tmp_path / "rep" / "pck-curve.pdf").is_file()
    res = _run("compare", "h36m--good", "h36m--weak", "--results-dir", str(results), "--n-boot", "200")
    assert res.exit_code == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("| mpjpe"))
    assert "| A |" in line and "<0.0001" in line


def test_errors_are_one_line(results):
    res = _run("compare", "h36m--good", "mpi3dhp", "--results-dir", str(results))
    assert res.exit_code == 1
    assert res.stderr.strip() == "Error: runs use different protocols: h36m v1 vs mpi3dhp-corrected v1"
    res = _run("report", "missing-run", "--results-dir", str(results))
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1 and "no run 'missing-run'" in res.stderr
    bad = results / "bad.csv"
    bad.write_text("method\nx\n")
    res = _run("leaderboard", "--results-dir", str(results), "--published", str(bad))
    assert res.exit_code == 1 and "bad.csv: missing columns" in res.stderr
    (results / "runs" / "broken.json").write_text("{not json")
    res = _run("leaderboard", "--results-dir", str(results))
    assert res.exit_code == 1 and "broken.json: not a readable result JSON" in res.stderr

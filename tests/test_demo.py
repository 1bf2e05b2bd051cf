"""`posebench demo` end to end (look-alike data; one run shared by the tests, ~20 s on two cores)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from posebench import demo
from posebench.cli import main
from posebench.results import list_runs


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    res = CliRunner().invoke(main, ["demo", "--out", str(out), "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_demo_writes_runs_for_each_baseline_and_protocol(demo_out):
    out, _ = demo_out
    runs = list_runs(out / "results")
    found = {(r.protocol.name, r.meta["model"]["name"]) for r in runs}
    assert found == {(p, m) for p in ("h36m", "h36m-lifting", "mpi3dhp-corrected")
                     for m in ("mean-pose", "nearest-neighbour")}
    for r in runs:
        assert r.meta["data"]["lookalike"] is True
        assert (out / "predictions" / f"{r.protocol.name}--{r.meta['model']['name']}.h5").is_file()
    by = {(r.protocol.name, r.meta["model"]["name"]): r.summary[r.protocol.headline] for r in runs}
    assert by[("h36m", "nearest-neighbour")] < by[("h36m", "mean-pose")]  # lookup beats the mean pose


def test_demo_prints_progress_and_a_labelled_leaderboard(demo_out):
    out, output = demo_out
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]", "done in"):
        assert step in output
    assert "LOOK-ALIKE DATA" in output
    board = (out / "results" / "leaderboard.md").read_text()
    assert "| rank | method |" in board and "never ranked with them" in board
    assert "data: the official release vs look-alike" in board  # published rows stay unranked


def test_demo_plots_are_images(demo_out):
    out, _ = demo_out
    pngs = sorted((out / "plots").glob("*.png"))
    names = {p.name for p in pngs}
    assert {"h36m-pck-curve.png", "h36m-by-action.png", "mpi3dhp-corrected-by-activity.png",
            "h36m-worst-nearest-neighbour.png"} <= names
    assert len(list((out / "plots").glob("*.pdf"))) == len(pngs)
    for p in pngs:
        assert min(Image.open(p).size) > 300


def test_demo_records_its_runs_and_refuses_foreign_folders(demo_out, tmp_path):
    out, _ = demo_out
    before = json.loads((out / ".posebench-demo.json").read_text())["runs"]
    assert sorted(before) == sorted(r.run_id for r in list_runs(out / "results"))
    (tmp_path / "data" / "h36m").mkdir(parents=True)
    (tmp_path / "data" / "h36m" / "test.h5").write_bytes(b"real data")
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "already holds files the demo did not write" in res.output
    assert (tmp_path / "data" / "h36m" / "test.h5").read_bytes() == b"real data"


def test_a_rerun_forgets_only_the_demos_own_runs(tmp_path):
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    for run_id in ("demo-run", "user-run"):
        (runs / f"{run_id}.json").write_text("{}")
        (runs / f"{run_id}.errors.h5").write_bytes(b"")
    (tmp_path / demo.MARKER).write_text(json.dumps({"runs": ["demo-run"]}))
    demo._forget_previous(tmp_path, demo._check_out(tmp_path))
    assert sorted(p.name for p in runs.iterdir()) == ["user-run.errors.h5", "user-run.json"]

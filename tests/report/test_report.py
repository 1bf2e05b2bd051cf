"""Tables, published figures, leaderboard assembly, comparison and the per-run report."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from posebench import report
from posebench.data import PreparedData, write_prepared
from posebench.evaluation import evaluate
from posebench.predictions import write_predictions
from posebench.protocols import load_protocol
from posebench.results import list_runs, load_result

FIXTURE = Path(__file__).parents[1] / "fixtures" / "result-v1"
ACTIONS = ("Directions", "Eating", "Greeting", "Posing", "Sitting", "Walking")
MODEL = {"checkpoint": None, "checkpoint_hash": None, "options": {}}


def _h36m_columns(rng: np.random.Generator) -> dict[str, np.ndarray]:
    rows = [(s, f"{a} {k}", a, c) for s in (9, 11) for a in ACTIONS for k in (1, 2)
            for c in (54138969, 55011271, 58860488, 60457274)]
    take = {(s, q): rng.normal(0, 250, (17, 3)) for s, q, _, _ in rows}
    gt = np.array([take[(s, q)] for s, q, _, _ in rows]) + np.array([0.0, 0.0, 4500.0])
    n = len(rows)
    return {"joints3d": gt, "joints2d": gt[..., :2] / 4.5 + 500,
            "intrinsics": np.tile([1145.0, 1144.0, 512, 515], (n, 1)),
            "subject": np.array([r[0] for r in rows]), "camera": np.array([r[3] for r in rows]),
            "frame": np.zeros(n, np.int64), "action": np.array([r[2] for r in rows]),
            "sequence": np.array([r[1] for r in rows]), "image": np.full(n, "")}


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    """A results folder: two fresh h36m runs (one from a predictions file on disk), a stale and an other-data run."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("report")
    cols = _h36m_columns(rng)
    data_path = root / "data" / "h36m" / "test.h5"
    write_prepared(data_path, cols, {"dataset": "h36m", "split": "test"})
    gt = cols["joints3d"]
    results = root / "results"
    pred = gt + rng.normal(0, 30, gt.shape)
    write_predictions(root / "good.h5", pred, np.arange(len(gt)))
    good = evaluate(root / "good.h5", "h36m", data_path, results_dir=results, save=True)
    weak = evaluate(gt + rng.normal(0, 70, gt.shape), "h36m", data_path, results_dir=results, save=True,
                    model={"name": "weak", **MODEL})
    old = evaluate(gt + rng.normal(0, 10, gt.shape), "h36m", data_path, model={"name": "old", **MODEL})
    old.meta["protocol"]["version"] = 0
    old.save(results)
    other = PreparedData.from_arrays("h36m", "test", **{k: v + 1.0 if k == "joints3d" else v for k, v in cols.items()})
    newest = evaluate(gt + rng.normal(0, 5, gt.shape), "h36m", other, model={"name": "other-data", **MODEL})
    newest.meta["created"] = "2099-01-01T00:00:00+00:00"  # newest, but its data is not the file on disk
    newest.save(results)
    return {"root": root, "results": results, "data": data_path, "good": good, "weak": weak}


@pytest.fixture(scope="session")
def boards(store):
    return report.build_leaderboard(list_runs(store["results"]), protocol="h36m", n_boot=300)


def test_kept_v1_fixture_loads_and_its_summary_is_recomputable():
    runs = list_runs(FIXTURE)
    assert [r.meta["format_version"] for r in runs] == [1, 1, 1]
    for r in runs:
        for m in r.protocol.metric_names:
            assert r.aggregate(m) == pytest.approx(r.summary[m], rel=1e-12)


def test_published_has_every_table_row_quoted():
    pub = report.load_published()
    assert (pub["quoted"] == "as reported").all()
    t4 = pub[pub.source.str.contains("Table 4")]
    assert t4["method"].nunique() == 9 and len(t4) == 16  # nine methods; two "-" cells are not rows
    assert len(pub[pub.source.str.contains("Table 3")]) == 12
    assert len(pub[pub.source.str.contains("Table 5")]) == 15
    assert len(pub[pub.source.str.contains("Table 6")]) == 12
    mp = pub[(pub.method == "MargiPose") & (pub.protocol == "mpi3dhp-corrected")].set_index("metric")["value"]
    assert mp.to_dict() == {"pck": 87.6, "mpjpe": 87.6, "auc": 48.8, "pa_pck": 94.8, "pa_mpjpe": 61.6, "pa_auc": 61.4}
    for p in pub["protocol"].unique():
        load_protocol(p)  # every row names a real protocol
    assert (pub[list(report.COMPARABILITY)] != "").all().all()


def test_published_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("method,value\nx,1\n")
    with pytest.raises(report.PublishedFileError, match=r"p\.csv: missing columns citation"):
        report.load_published(bad)
    pub = pd.read_csv(Path(report.__file__).parents[2] / "results" / "published.csv", dtype=str, keep_default_na=False)
    pub.loc[3, "value"] = "n/a"
    pub.to_csv(bad, index=False)
    with pytest.raises(report.PublishedFileError, match="row 5 has a non-numeric value 'n/a'"):
        report.load_published(bad)


def test_frames_vocabulary_matches_published_where_the_protocol_matches():
    pub = report.load_published()
    assert report.frames_description(load_protocol("mpi3dhp")) == "valid frames only"
    vp3d = pub[pub.method.str.startswith("VideoPose3D")].iloc[0]
    assert report.frames_description(load_protocol("h36m-lifting")) == vp3d["frames"]
    assert report.frames_description(load_protocol("h36m")) == \
        "S9+S11, every 64th frame, minus S11/Directions/cam 54138969"


def test_leaderboard_ranks_fresh_runs_and_flags_the_rest(boards, store):
    (board,) = boards
    rows = board.rows.set_index("method")
    assert rows.loc["good", "status"] == "ranked" and rows.loc["good", "rank"] == 1
    assert rows.loc["weak", "rank"] == 2
    assert rows.loc["good", "mpjpe"] == pytest.approx(store["good"].summary["mpjpe"])
    assert rows.loc["old", "status"] == "stale" and "protocol v0, current is v1" in rows.loc["old", "note"]
    assert rows.loc["other-data", "status"] == "stale" and "data hash" in rows.loc["other-data", "note"]
    assert board.notes[0] == f"current data: {store['data']} (hash {store['good'].meta['data']['content_hash'][:10]})"
    mp = rows.loc["MargiPose"]
    assert mp["status"] == "unranked" and "paper-era file subset" in mp["note"]
    assert "pa_mpjpe: reflections allowed vs excluded" in mp["note"]
    assert list(board.rows["status"]) == sorted(board.rows["status"], key=["ranked", "unranked", "stale"].index)
    lo, hi = map(float, re.findall(r"[\d.]+", rows.loc["good", "ci"]))
    assert lo < rows.loc["good", "mpjpe"] < hi


def test_published_rows_rank_with_runs_only_when_comparable():
    boards = report.build_leaderboard(list_runs(FIXTURE), protocol="mpi3dhp-corrected", n_boot=200)
    rows = boards[0].rows.set_index("method")
    # pck: same joints, frames, labels, scaling, no alignment, but Table 6 scored the MargiPose code's ground truth
    assert rows.loc["MargiPose", "status"] == "unranked"
    assert rows.loc["MargiPose", "note"].startswith("ground_truth 'annot3 / universal scale (MargiPose code)' vs "
                                                    "univ_annot3")
    assert rows.loc["good-model", "status"] == "ranked" and rows.loc["good-model", "rank"] == 1
    assert "multicrop yes vs no" in rows.loc["MargiPose (multi-crop)", "note"]
    assert "no pck reported" in rows.loc["MargiPose ablation: + 4-stage", "note"]
    assert any("indicative only" in n for n in boards[0].notes)  # six sequences


def test_markdown_renders_as_a_table(boards):
    text = report.render_leaderboard(boards, "md")
    table = [line for line in text.splitlines() if line.startswith("|")]
    widths = {len(re.split(r"(?<!\\)\|", line)) for line in table}
    assert len(widths) == 1 and len(table) == len(boards[0].rows) + 2
    assert re.fullmatch(r"\|(-{3}:?\|)+", table[1].replace("---:", "---"))


def test_latex_has_the_tabular_structure(boards):
    text = report.render_leaderboard(boards, "latex")
    body = text[text.index("\\begin{tabular}"):text.index("\\end{tabular}")]
    spec = re.match(r"\\begin\{tabular\}\{([lr]+)\}", body).group(1)
    lines = body.splitlines()
    assert lines[1] == "\\toprule" and lines[3] == "\\midrule" and text.rstrip().endswith("\\end{tabular}")
    rows = [line for line in lines[2:] if line.endswith("\\\\")]
    assert len(rows) == len(boards[0].rows) + 1
    for line in rows:
        cells = re.split(r"(?<!\\)&", line[:-2])
        assert len(cells) == len(spec)
    assert "\\bottomrule" in text and "pa\\_mpjpe (mm)" in text and "_" not in re.sub(r"\\_", "", body)


def test_csv_and_json_formats(boards):
    df = pd.read_csv(pd.io.common.StringIO(report.render_leaderboard(boards, "csv")))
    assert set(df["protocol"]) == {"h36m"} and "mpjpe" in df.columns
    data = json.loads(report.render_leaderboard(boards, "json"))
    assert data[0]["headline"] == "mpjpe" and data[0]["higher_is_better"] is False
    assert data[0]["rows"][0]["method"] == "good"


def test_compare_runs(store):
    df, notes = report.compare_runs(store["good"], store["weak"], n_boot=300)
    assert df.loc["mpjpe", "better"] == "A" and df.loc["mpjpe", "A-B"] < 0 and df.loc["mpjpe", "p"] < 0.01
    assert df.loc["pck", "better"] in ("A", "")  # higher is better: A is better or the difference is not clear
    assert df.loc["mpjpe", "clusters"] == 24 and not notes
    with pytest.raises(report.CompareError, match="different protocols"):
        report.compare_runs(store["good"], load_result(next(FIXTURE.glob("runs/mpi3dhp*.json"))))


def test_resolve_run(store):
    run_id = store["weak"].run_id
    assert report.resolve_run(run_id, store["results"]).run_id == run_id
    assert report.resolve_run(run_id[:-3], store["results"]).run_id == run_id
    with pytest.raises(report.RunLookupError, match="ambiguous"):
        report.resolve_run("h36m", store["results"])
    with pytest.raises(report.RunLookupError, match="no run 'nope'"):
        report.resolve_run("nope", store["results"])


def test_write_report(store, tmp_path):
    written = report.write_report(store["good"], tmp_path / "rep", n_boot=200)
    names = {p.name for p in written}
    for expected in ("index.md", "summary.csv", "summary.tex", "summary.json", "by-action.md", "bars-action.png",
                     "bars-action.pdf", "joints-mpjpe.csv", "pck-curve.png", "pck-curve.pdf", "worst-cases.png"):
        assert expected in names
    index = (tmp_path / "rep" / "index.md").read_text()
    assert "![worst cases](worst-cases.png)" in index
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv", index_col=0)
    assert summary.loc["mpjpe", "value"] == pytest.approx(store["good"].summary["mpjpe"])
    assert summary.loc["mpjpe", "ci_low"] < summary.loc["mpjpe", "value"] < summary.loc["mpjpe", "ci_high"]


def test_report_without_predictions_says_why(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "r")
    run = list_runs(tmp_path / "r")[0]
    report.write_report(run, tmp_path / "out", n_boot=100)
    assert "Not drawn: no predictions file" in (tmp_path / "out" / "index.md").read_text()


def test_changed_protocol_definition_without_version_bump_is_stale():
    run = list_runs(FIXTURE)[0]
    current = load_protocol("h36m")
    assert report.stale_reasons(run, current, None) == []
    run.meta["protocol"]["selection"]["frame_stride"] = 32
    assert report.stale_reasons(run, current, None) == \
        ["protocol definition changed without a version bump (selection)"]
    run.meta["protocol"]["selection"]["frame_stride"] = 64
    run.meta["protocol"].pop("cluster")  # a key an older echo lacks is not a change of meaning
    assert report.stale_reasons(run, current, None) == []
    assert "data hash" in report.stale_reasons(run, current, "f" * 64)[0]

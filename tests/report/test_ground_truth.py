"""The ground_truth comparability column, and published rows shown on every board whose columns they match."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from posebench import report
from posebench.protocols import list_protocols, load_protocol
from posebench.report.comparability import GROUND_TRUTH, ground_truth_name
from posebench.report.leaderboard import published_rows

CODE = "annot3 / universal scale (MargiPose code)"
RESULTS = Path(report.__file__).parents[2] / "results"


def _board(name: str) -> report.Board:
    (board,) = report.build_leaderboard([], protocol=name, n_boot=10)
    return board


def test_ground_truth_column_comes_from_the_protocols_target():
    cols = {name: report.comparability(load_protocol(name), "pck" if "mpi" in name else "mpjpe",
                                       "corrected" if "mpi" in name else None)["ground_truth"]
            for name in ("h36m", "mpi3dhp-official", "mpi3dhp-corrected", "mpi3dhp-corrected-margipose-code")}
    assert cols == {"h36m": "D3_Positions_mono", "mpi3dhp-official": "univ_annot3", "mpi3dhp-corrected": "univ_annot3",
                    "mpi3dhp-corrected-margipose-code": CODE}
    odd = dataclasses.replace(load_protocol("h36m"), target="joints3d_univ_from_annot3")
    assert ground_truth_name(odd) == "joints3d_univ_from_annot3"  # a pair without words: the column's own name
    assert "ground_truth" in report.COMPARABILITY and "ground_truth" in report.PUBLISHED_COLUMNS


def test_unknown_ground_truth_never_matches_and_is_named():
    ref = report.comparability(load_protocol("mpi3dhp"), "pck", "original")
    row = {**ref, "ground_truth": "unknown", "scaling": "not stated"}
    assert report.differences(row, ref) == ["not stated: scaling", "unknown: ground_truth"]
    assert report.differences({**ref, "ground_truth": CODE}, ref) == [f"ground_truth '{CODE}' vs univ_annot3"]


def test_published_ground_truth_is_what_each_source_scored_against():
    pub = report.load_published()
    words = set(GROUND_TRUTH.values()) | {"unknown"}
    assert set(pub["ground_truth"]) <= words
    quoted = pub.source.str.contains("quoting the cited paper")
    assert (pub.loc[quoted, "ground_truth"] == "unknown").all()  # third-party rows: not restated, never guessed
    by_table = {t: set(pub.loc[pub.source.str.endswith(t) & ~quoted, "ground_truth"])
                for t in ("Table 3", "Table 4", "Table 5", "Table 6")}
    assert by_table == {"Table 3": {CODE}, "Table 4": {"D3_Positions_mono"}, "Table 5": {"univ_annot3"},
                        "Table 6": {CODE}}
    vp3d = pub[pub.method.str.startswith("VideoPose3D")]
    assert set(vp3d["ground_truth"]) == {"D3_Positions_mono"}


def test_variant_board_ranks_the_papers_figures_it_reproduces():
    board = _board("mpi3dhp-corrected-margipose-code")
    rows = board.rows.set_index("method")
    mp = rows.loc["MargiPose"]
    assert mp["status"] == "ranked" and mp["rank"] == 1 and mp["note"] == ""
    assert (mp["pck"], mp["auc"], mp["mpjpe"], mp["pa_pck"], mp["pa_auc"], mp["pa_mpjpe"]) == \
        (87.6, 48.8, 87.6, 94.8, 61.4, 61.6)
    assert rows.loc["MargiPose (multi-crop)", "note"] == "multicrop yes vs no"
    assert rows.loc["MargiPose ablation: + 4-stage", "note"] == "no pck reported"
    assert rows.loc["MargiPose ablation: + 4-stage", "pa_mpjpe"] == 62.7
    assert not rows.index.str.contains("Dabral|VNect|HMR").any()  # original labels: another board


def test_main_board_names_the_papers_ground_truth_and_reflections():
    rows = _board("mpi3dhp-corrected").rows.set_index("method")
    assert (rows["status"] == "unranked").all()
    for method in ("MargiPose", "MargiPose (multi-crop)", "MargiPose ablation: minimal model"):
        note = rows.loc[method, "note"]
        assert f"ground_truth '{CODE}' vs univ_annot3" in note
        assert "pa_pck, pa_auc, pa_mpjpe: reflections allowed vs excluded" in note


def test_matching_is_by_columns_not_by_name():
    pub = report.load_published()
    datasets = {p.name: p.dataset for p in list_protocols()}
    variant = load_protocol("mpi3dhp-corrected-margipose-code")
    twin = dataclasses.replace(variant, name="someone-elses-variant")
    shown = published_rows(twin, "corrected", pub, {**datasets, twin.name: twin.dataset})
    assert len(shown) == 24 and set(shown["protocol"]) == {"mpi3dhp-corrected"}  # Tables 3 and 6
    no_reflect = dataclasses.replace(twin, metrics=load_protocol("mpi3dhp-corrected").metrics)
    kept = published_rows(no_reflect, "corrected", pub, datasets)
    assert len(kept) == 6 and set(kept["metric"]) == {"pck", "auc", "mpjpe"}  # PA figures: reflections
    official_gt = dataclasses.replace(twin, target="joints3d_univ")
    assert published_rows(official_gt, "corrected", pub, datasets).empty
    other_data = dataclasses.replace(twin, dataset="h36m")
    assert published_rows(other_data, "corrected", pub, datasets).empty


def test_shipped_leaderboard_md_is_regenerated():
    boards = report.build_leaderboard([], n_boot=10)
    assert (RESULTS / "leaderboard.md").read_text(encoding="utf-8") == \
        report.LEADERBOARD_HEADER + report.render_leaderboard(boards, "md")
    assert "## mpi3dhp-corrected-margipose-code v1" in report.render_leaderboard(boards, "md")


@pytest.mark.parametrize("name", [p.name for p in list_protocols()])
def test_every_shipped_targets_ground_truth_has_words(name):
    p = load_protocol(name)
    assert (p.dataset, p.target) in GROUND_TRUTH

"""Look-alike is a property of the data: `sample` marks the tree, `prepare` carries the mark into the prepared
file's attributes and content hash, and the run and leaderboard made from it say so (published rows unranked)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import posebench
from posebench.cli import main
from posebench.data import read_attrs, read_prepared, write_prepared
from posebench.lookalike import MARKERS, is_lookalike_tree
from posebench.results import load_result
from tests.lookalike_tree import sample_and_prepare_mpi3dhp


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    root = tmp_path_factory.mktemp("lookalike")
    sample_and_prepare_mpi3dhp(root)
    return root


def test_sample_marks_its_tree_and_prepare_carries_the_mark_into_attrs_and_hash(sampled, tmp_path):
    assert (sampled / "raw" / MARKERS[0]).is_file() and is_lookalike_tree(sampled / "raw")
    assert is_lookalike_tree(sampled / "raw" / "mpi_inf_3dhp_test_set")  # the test set inside the sampled tree
    path = sampled / "data" / "mpi3dhp" / "test-corrected.h5"
    attrs = read_attrs(path)
    assert attrs["lookalike"] is True
    data = read_prepared(path)
    assert data.lookalike
    unmarked = {k: v for k, v in attrs.items() if k not in ("lookalike", "content_hash", "format_version")}
    other = write_prepared(tmp_path / "same.h5", data.columns, unmarked)
    assert other != attrs["content_hash"]  # the same arrays without the mark are other data
    assert write_prepared(tmp_path / "again.h5", data.columns, {**unmarked, "lookalike": True}) == attrs["content_hash"]


def test_an_unmarked_tree_prepares_unmarked(sampled, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(sampled / "raw", raw)
    for m in MARKERS:
        (raw / m).unlink()
    r = CliRunner().invoke(main, ["prepare", "mpi3dhp", "--split", "test", "--src", str(raw), "--out",
                                  str(tmp_path / "data"), "--labels", "corrected", "--size", "32", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "lookalike" not in read_attrs(tmp_path / "data" / "mpi3dhp" / "test-corrected.h5")


def test_a_run_on_sampled_data_is_marked_end_to_end(sampled, tmp_path):
    data = read_prepared(sampled / "data" / "mpi3dhp" / "test-corrected.h5")
    rng = np.random.default_rng(0)
    pred = np.asarray(data["joints3d_univ"], dtype=np.float64) + rng.normal(0, 20, (len(data), 17, 3))
    result = posebench.evaluate((pred, np.arange(len(data))), "mpi3dhp-corrected", data,
                                results_dir=tmp_path / "res", save=True)
    assert result.meta["data"]["lookalike"] is True
    assert load_result(result.path).meta["data"]["lookalike"] is True
    r = CliRunner().invoke(main, ["leaderboard", "--results-dir", str(tmp_path / "res"), "-p", "mpi3dhp-corrected"])
    assert r.exit_code == 0, r.output
    assert 0 < r.output.index("> **local runs scored LOOK-ALIKE data (posebench sample)") < r.output.index("| rank |")
    published = [line for line in r.output.split("\n") if "Nibali et al." in line]
    assert published and all("| unranked |" in line and "look-alike" in line for line in published)
    r = CliRunner().invoke(main, ["report", result.run_id, "--results-dir", str(tmp_path / "res"), "--out",
                                  str(tmp_path / "rep"), "--n-boot", "100"])
    assert r.exit_code == 0, r.output
    index = (tmp_path / "rep" / "index.md").read_text()
    assert index.split("\n")[2].startswith("> **LOOK-ALIKE DATA**")
    assert "**Ceiling**" in index and "knee_neck_920" in index  # the 920 mm rule bites on this data

"""Outputs never clobber inputs; CLI numbers are range-checked; odd files given to `info` are named."""
from __future__ import annotations

import json

import pytest

from tests.adversarial.conftest import cli, one_line_error, tree


def _sha(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.clear_error
@pytest.mark.parametrize("data_arg", ["folder", "file"])
def test_a_template_written_over_the_prepared_file_is_refused_even_with_overwrite(world, data_arg):
    data = world.data if data_arg == "folder" else world.prepared
    before = _sha(world.prepared)
    for extra in ((), ("--overwrite",)):
        one_line_error(cli("evaluate", "-p", "h36m", "-d", data, "--template", world.prepared, *extra),
                       f"template {world.prepared} is the input {world.prepared}")
    assert _sha(world.prepared) == before  # the lost-data case: the prepared file survives


@pytest.mark.clear_error
def test_a_template_through_a_symlink_to_the_prepared_file_is_refused(world):
    link = world.path("t.h5")
    link.symlink_to(world.prepared)
    before = _sha(world.prepared)
    one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--template", link, "--overwrite"),
                   "is the input")
    assert _sha(world.prepared) == before


@pytest.mark.correct_result
def test_an_existing_template_is_replaced_only_when_asked(world):
    t = world.path("t.h5")
    t.write_bytes(b"somebody's notes")
    one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--template", t), "already exists; pass --overwrite")
    assert t.read_bytes() == b"somebody's notes"
    out = cli("evaluate", "-p", "h36m", "-d", world.data, "--template", t, "--overwrite")
    assert out.code == 0 and "wrote 21 rows to predict" in out.output
    import h5py

    with h5py.File(t, "r") as f:
        assert len(f["index"]) == 21 and "joints3d" not in f  # never the answer key


@pytest.mark.clear_error
@pytest.mark.parametrize("args,fragment", [
    (("evaluate", "-p", "h36m", "--model", "mean-pose", "--batch-size", "0"), "'--batch-size': 0 is not in the range x>=1"),
    (("evaluate", "-p", "h36m", "--model", "mean-pose", "--batch-size", "-1"), "'--batch-size': -1 is not in the range"),
    (("leaderboard", "--n-boot", "0"), "'--n-boot': 0 is not in the range x>=1"),
    (("compare", "a", "b", "--n-boot", "-5"), "'--n-boot': -5 is not in the range x>=1"),
    (("report", "a", "--worst", "-3"), "'--worst': -3 is not in the range x>=0"),
    (("report", "a", "--n-boot", "0"), "'--n-boot': 0 is not in the range"),
    (("demo", "--n-boot", "0"), "'--n-boot': 0 is not in the range"),
    (("prepare", "h36m", "--src", ".", "--out", ".", "--jobs", "0"), "'--jobs': 0 is not in the range x>=1"),
    (("prepare", "mpi3dhp", "--split", "test", "--src", ".", "--out", ".", "--size", "-1"), "'--size': -1 is not in"),
    (("prepare", "mpi3dhp", "--split", "train", "--src", ".", "--out", ".", "--stride", "0"), "'--stride': 0 is not in"),
    (("prepare", "mpi3dhp", "--split", "train", "--src", ".", "--out", ".", "--motion-mm", "0"), "'--motion-mm': 0"),
    (("sample", "h36m", "--out", "x", "--gop", "0"), "'--gop': 0 is not in the range x>=1"),
    (("sample", "h36m", "--out", "x", "--seed", "-1"), "'--seed': -1 is not in the range x>=0"),
    (("demo", "--out", "x", "--seed", "-1"), "'--seed': -1 is not in the range x>=0"),
])
def test_cli_numbers_are_range_checked_before_anything_runs(world, args, fragment):
    before = tree(world.root)
    out = cli(*args)
    assert out.code == 2, out.output
    one_line_error(out, fragment)
    assert tree(world.root) == before


@pytest.mark.clear_error
def test_info_on_a_runs_errors_file_names_it(world):
    assert cli("evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds, "--results-dir",
               world.path("results")).code == 0
    (errors,) = world.path("results").glob("runs/*.errors.h5")
    run_id = errors.name.removesuffix(".errors.h5")
    one_line_error(cli("info", errors), f"is the per-row errors file of run '{run_id}'", f"posebench report {run_id}")
    one_line_error(cli("info", world.preds), "is a predictions or template file")


@pytest.mark.clear_error
def test_model_options_a_model_refuses_are_one_line(world):
    one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--model", "mean-pose", "--model-option",
                       "bogus=1", "--no-save"), "model 'mean-pose' takes no option bogus")
    pytest.importorskip("torch")
    one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--model", "margipose", "--model-option",
                       "bogus=1", "--no-save"), "model 'margipose'", "unknown option(s) bogus")


@pytest.mark.clear_error
def test_a_run_whose_id_or_protocol_echo_tries_to_leave_its_folder(world):
    results = world.path("results")
    assert cli("evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds, "--results-dir",
               results).code == 0
    (path,) = results.glob("runs/*.json")
    meta = json.loads(path.read_text())
    for field, value, fragment in (("run_id", "../../../escaped", "run id '../../../escaped' must be a plain name"),
                                   ("breakdowns", ["../../escaped"], "column '../../escaped' is not one of")):
        edited = json.loads(json.dumps(meta))
        if field == "run_id":
            edited["run_id"] = value
        else:
            edited["protocol"]["breakdowns"] = value
        path.write_text(json.dumps(edited))
        before = tree(world.root)
        one_line_error(cli("report", path, "--results-dir", results, "--n-boot", "10", "--worst", "0"), fragment)
        assert tree(world.root) == before and not (world.root.parent / "escaped").exists()


@pytest.mark.clear_error
def test_output_checks_in_the_api(world):
    from posebench.errors import PosebenchError
    from posebench.io_utils import OutputError, check_output

    assert issubclass(OutputError, PosebenchError)
    with pytest.raises(OutputError, match="is outside its folder"):
        check_output(world.path("reports") / ".." / ".." / "x.md", folder=world.path("reports"))
    with pytest.raises(OutputError, match="is a folder"):
        check_output(world.data, overwrite=True)
    assert check_output(world.path("reports") / "new.md", folder=world.path("reports")) == world.path("reports") / "new.md"

"""The public surface stays put: every documented posebench name imports, and every command keeps its options."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import click
import pytest

import posebench
from posebench.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/contracts.md", "docs/architecture.md", "results/README.md", "protocols/README.md"]
DOTTED = re.compile(r"\bposebench(?:\.[A-Za-z_]\w*)+")

# The Python API named in the package docstring, README and docs/contracts.md.
PUBLIC = {
    "posebench": ["__version__", "PosebenchError", "evaluate", "load_protocol", "list_protocols"],
    "posebench.errors": ["PosebenchError"],
    "posebench.metrics": ["METRICS", "AUC_THRESHOLDS", "PCK_THRESHOLD", "joint_errors", "per_sample", "aggregate",
                          "mpjpe", "pa_mpjpe", "n_mpjpe", "pck", "auc", "pa_pck", "pa_auc"],
    "posebench.align": ["ALIGNMENTS", "root_centre", "similarity_transform", "procrustes", "procrustes_errors",
                        "scale_fit", "scale_factors", "knee_neck_rescale", "optimal_rotation", "align"],
    "posebench.protocols": ["Protocol", "MetricDef", "METRIC_KINDS", "load_protocol", "list_protocols"],
    "posebench.data": ["PreparedData", "read_prepared", "write_prepared", "data_root"],
    "posebench.predictions": ["read_predictions", "write_predictions", "check_predictions", "match_index"],
    "posebench.evaluation": ["evaluate", "evaluate_model", "make_template", "convert_predictions"],
    "posebench.skeleton": ["ORDERS", "to_canonical", "from_canonical", "check_order", "detect_order"],
    "posebench.importers": ["FORMATS", "import_predictions", "detect_format", "ImportFormatError"],
    "posebench.safeload": ["loads_data", "load_pickle", "load_npz", "UnsafePickleError"],
    "posebench.lookalike": ["MARKERS", "mark_tree", "is_lookalike_tree"],
    "posebench.ceiling": ["ceiling", "target_hint"],
    "posebench.report.paper_tables": ["paper_table", "render_table", "overlay_figures", "write_overlays", "TableError"],
    "posebench.report.site": ["build_site"],
    "posebench.results": ["Result", "RunMeta", "load_result", "list_runs", "resolve_run", "results_root",
                          "per_sample", "aggregate"],
    "posebench.models": ["Model", "create_model", "list_models"],
    "posebench.models.baselines": ["MeanPose", "NearestNeighbour"],
    "posebench.report": ["load_published", "build_leaderboard", "render_leaderboard", "write_leaderboard",
                         "compare_runs", "write_report", "resolve_run", "render", "to_markdown", "to_latex",
                         "frames_description", "comparability", "stale_reasons", "run_label", "group_names",
                         "worst_case_figure", "RunLookupError", "PublishedFileError", "CompareError"],
    "posebench.report.plots": ["pck_curve", "group_bars", "skeleton_overlays", "save_figure"],
}

# Every command of `posebench` with its options (and arguments, upper case): the CLI contract.
COMMAND_OPTIONS = {
    "compare": ["--format", "--metric", "--n-boot", "--results-dir", "RUN_A", "RUN_B"],
    "convert": ["--data", "--from", "--joint-order", "--protocol", "-d", "-p", "OUT", "SOURCE"],
    "demo": ["--checkpoint", "--device", "--n-boot", "--out", "--seed", "-o"],
    "evaluate": ["--batch-size", "--checkpoint", "--data", "--device", "--format", "--from", "--joint-order",
                 "--model", "--model-option", "--name", "--no-save", "--overwrite", "--predictions", "--protocol",
                 "--results-dir", "--save", "--template", "-d", "-p"],
    "info": ["--json", "--verify", "FILE"],
    "leaderboard": ["--data", "--format", "--n-boot", "--protocol", "--published", "--results-dir", "-d", "-p"],
    "prepare h36m": ["--image-stride", "--jobs", "--keep-shards", "--out", "--quiet", "--src", "--subjects",
                     "--verify"],
    "prepare mpi3dhp": ["--calib-dir", "--cameras", "--images", "--jobs", "--labels", "--masks", "--motion-mm",
                        "--no-images", "--no-masks", "--out", "--quiet", "--size", "--split", "--src", "--stride"],
    "prepare mpii": ["--images", "--jobs", "--no-images", "--out", "--quiet", "--src", "--val-indices"],
    "protocols list": [],
    "protocols show": ["NAME"],
    "protocols validate": ["FILES"],
    "report": ["--data", "--n-boot", "--out", "--predictions", "--results-dir", "--worst", "-o", "RUN"],
    "site": ["--n-boot", "--out", "--results-dir", "--worst", "-o"],
    "table": ["--by", "--digits", "--format", "--metric", "--no-published", "--overlays", "--protocol", "--published",
              "--results-dir", "--run", "-p"],
    "sample": ["--full", "--gop", "--knee-neck", "--labels", "--out", "--rigid-spine", "--seed", "--size", "--split",
               "DATASET"],
}


def _resolve(dotted: str) -> object:
    """Import the longest module prefix of a dotted name, then take the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_import(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [n for n in PUBLIC[module] if not hasattr(mod, n)]
    assert not missing, f"{module} lost {missing}"


def test_every_posebench_name_in_the_docs_resolves() -> None:
    names = set()
    for doc in DOCS:
        path = REPO / doc
        if path.is_file():
            names |= set(DOTTED.findall(path.read_text(encoding="utf-8")))
    names -= {"posebench.published_data", "posebench.protocols_data"}  # package data folders, not modules
    assert len(names) >= 8
    unresolved = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            unresolved.append(name)
    assert not unresolved, f"documented but not importable: {unresolved}"


def test_package_api_is_lazy_and_complete() -> None:
    assert set(posebench.__all__) == set(PUBLIC["posebench"])
    assert posebench.evaluate is importlib.import_module("posebench.evaluation").evaluate


def _options(cmd: click.Command) -> list[str]:
    flags = sorted(o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-"))
    return flags + sorted(p.name.upper() for p in cmd.params if isinstance(p, click.Argument))


def _commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None and "unavailable" not in (cmd.help or ""), name
        if isinstance(cmd, click.Group):
            out.update(_commands(cmd, ctx, (*prefix, name)))
        else:
            out[" ".join((*prefix, name))] = _options(cmd)
    return out


def test_every_command_keeps_its_options() -> None:
    assert _commands(main, click.Context(main)) == COMMAND_OPTIONS

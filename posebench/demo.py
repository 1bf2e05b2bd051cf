"""The demo (command in posebench.cli.demo): the main job end to end on look-alike data, in under a minute.

Generates look-alike Human3.6M and MPI-INF-3DHP releases, prepares them, runs the baselines (and MargiPose when
a checkpoint is given) through `posebench.evaluate`, stores the runs, prints the leaderboard and writes plots.
Everything lands under --out: raw/, data/, predictions/, results/ (runs, leaderboard.md), plots/.
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from posebench.errors import PosebenchError

MARKER = ".posebench-demo.json"  # what the demo wrote, so a rerun replaces only its own runs
BASELINES = ("mean-pose", "nearest-neighbour")
PROTOCOLS = ("h36m", "h36m-lifting", "mpi3dhp-corrected")
IMAGE_PROTOCOLS = ("h36m", "mpi3dhp-corrected")  # rows with extracted images: where an image model can run
LOOKALIKE_NOTE = ("LOOK-ALIKE DATA: synthetic poses from posebench.sample, not Human3.6M or MPI-INF-3DHP; "
                  "numbers show the pipeline working, not model quality.")


class DemoError(PosebenchError):
    """The demo cannot run in the given folder."""


@dataclass
class DemoOutput:
    out: Path
    runs: list[Any] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    leaderboard: Path | None = None
    seconds: float = 0.0


def _check_out(out: Path) -> dict[str, Any]:
    """Refuse a folder whose data/ or results/runs/ the demo did not write (it would overwrite real data)."""
    marker = out / MARKER
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))
    for sub in ("data", "results/runs"):
        if (out / sub).is_dir() and any((out / sub).iterdir()):
            raise DemoError(f"{out / sub} already holds files the demo did not write; choose another --out "
                            "(the demo writes raw/, data/, predictions/, results/ and plots/ there)")
    return {"runs": []}


def _forget_previous(out: Path, state: dict[str, Any]) -> None:
    runs = out / "results" / "runs"
    for run_id in state.get("runs", []):
        for suffix in (".json", ".errors.h5"):
            (runs / f"{run_id}{suffix}").unlink(missing_ok=True)


def make_data(out: Path, seed: int, say: Callable[[str], None]) -> Path:
    """Look-alike raw trees under out/raw, prepared into out/data; returns the data folder."""
    from posebench.prepare.h36m import prepare_h36m
    from posebench.prepare.mpi3dhp import prepare_test
    from posebench.prepare.mpi3dhp_train import prepare_train
    from posebench.sample import h36m as sample_h36m
    from posebench.sample import mpi3dhp as sample_mpi

    raw, data = out / "raw", out / "data"
    t = time.perf_counter()
    s = sample_h36m.write_tree(raw / "h36m", seed=seed)
    say(f"sampled look-alike Human3.6M ({', '.join(s['subjects'])}) in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    summary = prepare_h36m(raw / "h36m", data, jobs=2, subjects=[int(k[1:]) for k in s["subjects"]], progress=False)
    rows = ", ".join(f"{k} {v['rows']} rows" for k, v in summary.outputs.items())
    say(f"prepared Human3.6M ({rows}; the deliberately corrupt S11 video kept as rows without images) "
        f"in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    sample_mpi.write_tree(raw / "mpi3dhp", seed=seed, labels="corrected")
    say(f"sampled look-alike MPI-INF-3DHP (corrected labels) in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    quiet = lambda *a, **k: None  # noqa: E731
    prepare_test(raw / "mpi3dhp", data, labels="corrected", progress=False, echo=quiet)
    prepare_train(raw / "mpi3dhp", data, progress=False, echo=quiet)
    say(f"prepared MPI-INF-3DHP test (corrected) and train in {time.perf_counter() - t:.1f} s")
    return data


def run_model(name: str, protocol: str, data: Path, out: Path, checkpoint: str | None = None,
              device: str | None = None, batch_size: int = 256) -> Any:
    """Predict with a registered model, keep the predictions file, score it with posebench.evaluate, store the run."""
    from posebench.evaluation import evaluate_model

    result = evaluate_model(name, protocol, data, checkpoint=checkpoint, device=device, batch_size=batch_size,
                            progress=False, predictions_out=out / "predictions" / f"{protocol}--{name}.h5")
    result.meta["data"]["lookalike"] = True
    result.save(out / "results")
    return result


def demo_plots(runs: list[Any], folder: Path, n_worst: int = 5) -> list[Path]:
    """Per protocol: PCK curves and per-group bars of every model; worst cases of the best run by the headline."""
    import pandas as pd

    from posebench.report import plots
    from posebench.report import group_names, run_label, worst_case_figure

    written: list[Path] = []
    by_protocol: dict[str, list[Any]] = {}
    for r in runs:
        by_protocol.setdefault(r.protocol.name, []).append(r)
    for name, group in by_protocol.items():
        p = group[0].protocol
        head = p.metric(p.headline)
        curve = next(m.name for m in p.metrics if m.align == "none")
        fig = plots.pck_curve({run_label(r): r.errors[curve] for r in group},
                              title=f"{name}: 3D PCK vs threshold (look-alike data)")
        written += plots.save_figure(fig, folder / f"{name}-pck-curve")
        key = next((k for k in p.breakdowns if k in group[0].groups), None)
        if key:
            table = group_names(pd.concat({run_label(r): r.table(key)[head.name].drop("All") for r in group}, axis=1),
                                key)
            fig = plots.group_bars(table, f"{head.name} ({head.unit})",
                                   f"{name}: {head.name} by {key} (look-alike data)")
            written += plots.save_figure(fig, folder / f"{name}-by-{key}")
        best = sorted(group, key=lambda r: r.summary[head.name] * (-1 if head.higher_is_better else 1))[0]
        fig = worst_case_figure(best, n_worst, suptitle=f"{name}, {run_label(best)}: worst {head.name} "
                                "(prediction in colour, ground truth dashed; look-alike data)")
        if not isinstance(fig, str):
            written += plots.save_figure(fig, folder / f"{name}-worst-{run_label(best)}")
    return written


def run_demo(out: str | Path = ".", seed: int = 0, checkpoint: str | None = None, device: str | None = None,
             say: Callable[[str], None] = print, n_boot: int = 2000) -> DemoOutput:
    """The whole demo; returns the runs, plots and leaderboard written under ``out``."""
    from posebench.report import build_leaderboard, render_leaderboard, write_leaderboard

    start = time.perf_counter()
    out = Path(out)
    state = _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    _forget_previous(out, state)
    steps = 4
    say(f"[1/{steps}] look-alike raw data -> {out / 'raw'}, prepared -> {out / 'data'}")
    data = make_data(out, seed, lambda m: say("      " + m))
    say(f"[2/{steps}] evaluating {', '.join(BASELINES)}{' and margipose' if checkpoint else ''} "
        f"on {', '.join(PROTOCOLS)}")
    result = DemoOutput(out)
    jobs = [(m, p) for p in PROTOCOLS for m in BASELINES]
    if checkpoint:
        jobs += [("margipose", p) for p in IMAGE_PROTOCOLS]
    for name, protocol in jobs:
        t = time.perf_counter()
        try:
            r = run_model(name, protocol, data, out, checkpoint if name == "margipose" else None, device)
        except (ValueError, LookupError, OSError, ImportError) as e:
            say(f"      {name} on {protocol}: skipped ({e})")
            continue
        result.runs.append(r)
        head = r.protocol.headline
        say(f"      {name:<18} {protocol:<18} {head} {r.summary[head]:7.1f} {r.meta['units'][head]:<2} "
            f"({r.meta['rows_scored']} rows, {time.perf_counter() - t:.1f} s)")
    (out / MARKER).write_text(json.dumps({"runs": [r.run_id for r in result.runs]}, indent=2) + "\n")
    say(f"[3/{steps}] leaderboard (local runs beside published figures)")
    from posebench.results import list_runs

    boards = build_leaderboard(list_runs(out / "results"), protocol=None, n_boot=n_boot)
    boards = [b for b in boards if b.protocol.name in PROTOCOLS]
    say(LOOKALIKE_NOTE + "\n")
    say(render_leaderboard(boards, "md"))
    result.leaderboard = write_leaderboard(boards, out / "results")
    say(f"[4/{steps}] plots -> {out / 'plots'}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result.plots = demo_plots(result.runs, out / "plots")
    result.seconds = time.perf_counter() - start
    say(f"done in {result.seconds:.1f} s: {len(result.runs)} runs in {out / 'results' / 'runs'}, "
        f"leaderboard {result.leaderboard}, {len(result.plots)} plot files")
    return result

"""Does MargiPose learn? A tiny configuration trained on CPU on a look-alike Human3.6M tree, scored on the
held-out look-alike test subjects (S9, S11) through `posebench.evaluate` (protocol h36m, ground-truth root
depth granted) against the mean training pose, with and without the Jensen-Shannon regulariser.

    python benchmarks/bench_margipose_learns.py                      # ~10 minutes on 2 CPU cores
    python benchmarks/bench_margipose_learns.py --minutes 2 --work /tmp/mp-learns   # keep/reuse the data

Both runs take exactly the same number of SGD steps whatever the machine load: the count is fixed before
training (--steps, or sized once from a short timing run so a run takes about --minutes), runs are never cut
by time, and each run's step count is read back from its checkpoint and printed.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TINY = {"stages": 2, "channels": 32, "mid_channels": 32, "input_size": 64}


def make_data(work: Path, seed: int) -> Path:
    """Look-alike raw Human3.6M (S1, S5 train; S9, S11 test) -> prepared DATA/h36m/{train,test}.h5."""
    from posebench.prepare.h36m import prepare_h36m
    from posebench.sample import h36m as sample

    data = work / "data"
    if (data / "h36m" / "train.h5").is_file() and (data / "h36m" / "test.h5").is_file():
        print(f"reusing prepared look-alike data in {data}")
        return data
    t0 = time.perf_counter()
    sample.write_tree(work / "raw", seed=seed, subjects=(1, 5, 9, 11), size=128)
    summary = prepare_h36m(work / "raw", data, subjects=(1, 5, 9, 11), image_stride=2, progress=False)
    print(f"look-alike tree sampled and prepared in {time.perf_counter() - t0:.0f} s: "
          + ", ".join(f"{k} {v['rows']} rows / {v['images']} images" for k, v in summary.outputs.items()))
    return data


def seconds_per_step(data: Path, batch: int) -> float:
    """Time of one training step of the tiny configuration: the median of 5 forward+backward passes on a
    random batch, plus 25 % for loading and warping images and the optimiser step."""
    import torch

    from margipose.loss import margipose_loss
    from margipose.model import MargiPose

    model = MargiPose(**TINY)
    size = TINY["input_size"]
    x, target = torch.rand(batch, 3, size, size), torch.rand(batch, 17, 3) * 1.4 - 0.7
    mask, depth = torch.ones(batch, 17, dtype=torch.bool), torch.ones(batch, dtype=torch.bool)
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        loss, _ = margipose_loss(model(x), target, mask, depth)
        loss.backward()
        times.append(time.perf_counter() - t0)
    return 1.25 * float(np.median(times[1:]))


def schedule(steps: int) -> tuple[int, int]:
    """(epochs, steps per epoch) giving exactly epochs * per_epoch steps, about ``steps``, in about 10 epochs."""
    per_epoch = max(steps // 10, 1)
    return max(steps // per_epoch, 1), per_epoch


def run(data: Path, out: Path, jsd: bool, steps: int, batch: int, lr_max: float, workers: int) -> dict:
    from margipose.checkpoint import load_checkpoint
    from margipose.train import TrainOptions, train

    shutil.rmtree(out, ignore_errors=True)  # a fresh run folder (the log appends)
    epochs, per_epoch = schedule(steps)
    opts = TrainOptions(data=str(data), out=str(out), dataset="h36m", mpii="no", epochs=epochs,
                        samples_per_epoch=per_epoch * batch, batch_size=batch, lr_max=lr_max, workers=workers,
                        progress=False, pretrained=False, model={**TINY, "jsd": jsd})
    t0 = time.perf_counter()
    path = train(opts)
    seconds = time.perf_counter() - t0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    curve = [e["epoch_mean"] for e in log if "epoch_mean" in e]
    return {"checkpoint": path, "seconds": seconds, "curve": curve, "steps": int(load_checkpoint(path)["step"])}


def score(name: str, data: Path, **kw) -> dict:
    """`posebench evaluate --model NAME --protocol h36m` (Python API). A barely trained model can predict
    collapsed skeletons that the millimetre sanity check refuses; those are scored with the check off."""
    from posebench.evaluation import evaluate, evaluate_model, image_root, make_template, resolve_data
    from posebench.models import create_model
    from posebench.predictions import PredictionsError
    from posebench.protocols import load_protocol

    try:
        return dict(evaluate_model(name, "h36m", data, progress=False, save=False, **kw).summary)
    except PredictionsError as e:
        print(f"  note: {name}: {e}; scored with the unit check off")
    protocol = load_protocol("h36m")
    prepared = resolve_data(protocol, data)
    batch = make_template(protocol, prepared)
    batch["image_root"] = image_root(prepared)
    model = create_model(name, protocol=protocol, data=data, **kw)
    pred = np.concatenate([model.predict({k: v[s:s + 64] if k != "image_root" else v for k, v in batch.items()})
                           for s in range(0, len(batch["index"]), 64)])
    return dict(evaluate(pred, protocol, prepared, index=batch["index"], check_units=False).summary)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=4.0, help="sizes the step count (about this long per run)")
    ap.add_argument("--steps", type=int, default=None, help="SGD steps per run (default: sized from --minutes)")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr-max", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a shared machine, OpenMP spin-waiting costs more than it gains)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory()
        args.work = Path(tmp.name)
    args.work.mkdir(parents=True, exist_ok=True)
    data = make_data(args.work, args.seed)
    if args.steps is None:
        sps = seconds_per_step(data, args.batch)
        wanted, how = max(int(args.minutes * 60 / sps), 10), f"{sps:.2f} s/step measured"
    else:
        wanted, how = args.steps, "--steps"
    epochs, per_epoch = schedule(wanted)
    steps = epochs * per_epoch
    print(f"tiny config {TINY}: {steps} SGD steps per run ({how}; {epochs} epochs x {per_epoch}) at batch "
          f"{args.batch} ({steps * args.batch} samples), 1cycle lr_max {args.lr_max}")
    baseline = score("mean-pose", data)
    results = {}
    for jsd in (True, False):
        label = "margipose (JSD)" if jsd else "margipose (no JSD)"
        torch.manual_seed(args.seed)
        r = run(data, args.work / ("run-jsd" if jsd else "run-nojsd"), jsd, steps, args.batch, args.lr_max,
                args.workers)
        r["summary"] = score("margipose", data, checkpoint=str(r["checkpoint"]))
        results[label] = r
        losses = [c["loss"] for c in r["curve"]]
        eucl = [sum(v for k, v in c.items() if k.endswith("euclidean")) for c in r["curve"]]
        print(f"\n{label}: {r['steps']} SGD steps in {r['seconds']:.0f} s; epoch-mean loss "
              + " ".join(f"{x:.3f}" for x in losses))
        print("  Euclidean part (NDC, summed over stages) " + " ".join(f"{x:.3f}" for x in eucl))
    print("\n# h36m protocol on the held-out look-alike test rows (S9, S11; GT root depth granted)")
    print(f"{'model':<22}{'MPJPE mm':>10}{'PA-MPJPE mm':>13}{'PCK %':>8}")
    rows = [("mean-pose baseline", baseline)] + [(k, v["summary"]) for k, v in results.items()]
    for name, s in rows:
        print(f"{name:<22}{s['mpjpe']:>10.1f}{s['pa_mpjpe']:>13.1f}{s['pck']:>8.1f}")
    for name, r in results.items():
        print(f"{name}: {r['steps']} steps; MPJPE {r['summary']['mpjpe'] / baseline['mpjpe']:.2f}x the mean-pose baseline")
    counts = {r["steps"] for r in results.values()}
    if counts != {steps}:
        print(f"FAIL: the arms took {sorted(counts)} steps, expected {steps} each")
        return 1
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

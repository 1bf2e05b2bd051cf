"""Several processes through torchrun (DistributedDataParallel over gloo on the CPU): one checkpoint, one log."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from margipose.checkpoint import load_checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_share_the_steps(data_tree, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "margipose.cli", "train", "--data", str(data_tree),
           "--dataset", "mpi3dhp", "--split", "train", "--no-pretrained", "--mpii", "no", "--out", str(out), "--device", "cpu", "--stages", "1",
           "--channels", "16", "--mid-channels", "16", "--input-size", "64", "--epochs", "1",
           "--samples-per-epoch", "32", "--batch-size", "4", "--workers", "0", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    # 32 samples per epoch over 2 processes x 4 per batch: 4 synchronised steps, logged once (rank 0).
    assert lines[-1]["step"] == 4 and len([ln for ln in lines if "epoch_mean" in ln]) == 1
    assert lines[0]["event"] == "start" and lines[0]["world_size"] == 2 and lines[0]["backbone"] == {"pretrained": False}
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 4

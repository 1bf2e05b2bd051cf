import platform
import subprocess
import sys

import pytest

from margipose import workers

# Allocate and free a batch of 32 crop-sized float buffers twice; print the page faults of the second round.
ROUNDS = """
import resource, sys
import numpy as np
from margipose.workers import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory(0)
def batch():
    bufs = [np.ones((3, 256, 256), np.float32) for _ in range(32)]
    del bufs
batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
batch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_a_worker_keeps_freed_memory_for_the_next_batch():
    """With glibc's thresholds a freed batch of 32 float crops (24 MiB) goes back to the system and is faulted
    in again; after keep_freed_memory the next batch reuses it (far fewer than the 6,144 pages' faults)."""
    faults = {arm: int(subprocess.run([sys.executable, "-c", ROUNDS, arm], capture_output=True, text=True,
                                      check=True).stdout) for arm in ("default", "tuned")}
    assert faults["default"] > 3000 and faults["tuned"] < 300, faults


def test_without_glibc_nothing_changes(monkeypatch):
    from posebench import _heap

    monkeypatch.setattr(_heap, "_glibc", lambda: None)  # no C library found (macOS, Windows)
    assert workers.keep_freed_memory(3) is False

    class NoMallopt:  # a C library without mallopt
        pass

    monkeypatch.setattr(_heap, "_glibc", lambda: NoMallopt())
    assert workers.keep_freed_memory() is False


def test_train_gives_its_workers_the_set_up(monkeypatch, data_tree, tmp_path):
    """margipose train's DataLoader runs keep_freed_memory in each worker (none without workers)."""
    from margipose import train as train_module

    seen = []
    real = train_module.DataLoader

    def loader(*args, **kwargs):
        seen.append((kwargs["num_workers"], kwargs.get("worker_init_fn")))
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "DataLoader", loader)
    opts = dict(data=str(data_tree), dataset="mpi3dhp", split="train", epochs=1, samples_per_epoch=4,
                batch_size=2, lr_max=0.1, progress=False, pretrained=False,
                model={"stages": 2, "channels": 16, "mid_channels": 16, "input_size": 64})
    train_module.train(train_module.TrainOptions(out=str(tmp_path / "a"), workers=1, **opts))
    train_module.train(train_module.TrainOptions(out=str(tmp_path / "b"), workers=0, **opts))
    assert seen == [(1, workers.keep_freed_memory), (0, None)]

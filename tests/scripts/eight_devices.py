"""Run in a fresh process with 8 simulated CPU devices: sharded groups vs single device.

Prints one JSON object: the largest loss difference for a run-parallel group (3 runs padded to
8 devices) and for a data-parallel single run, each against the same runs with sharding off.
"""

import json
import os
import sys
import tempfile

# keep the flags the test session set (its cheap compile pipeline)
os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=8"]).strip()

import dataclasses  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxsched.train.config import RunConfig  # noqa: E402
from jaxsched.train.runner import Runner  # noqa: E402
from jaxsched.workloads.image import SIZES  # noqa: E402

assert len(jax.devices()) == 8, jax.devices()
workload = dataclasses.replace(SIZES["smoke"], synthetic_train=256, synthetic_test=64,
                               eval_examples=64)
data = workload.load_data("synthetic")
task = workload.task(data)


def cfg(**kw):
    return RunConfig(**{"steps": 12, "eval_every": 6, **kw})


group = [cfg(schedule="linear_decay"), cfg(schedule="cosine_decay", seed=1),
         cfg(optimizer="adam", lr=3e-3, steps=8)]
single = [cfg(optimizer="adam_ema", ema_decay=0.9)]
out = {}
with tempfile.TemporaryDirectory() as tmp:
    for name, cfgs in (("runs", group), ("data", single)):
        logs = []
        sharded = Runner(task, f"{tmp}/{name}-s", chunk_size=5, progress=False,
                         log=logs.append).run(cfgs)
        plain = Runner(task, f"{tmp}/{name}-p", chunk_size=5, progress=False, shard=False,
                       log=lambda m: None).run(cfgs)
        diff = max(
            float(np.max(np.abs(a.run_dir.load_losses() - b.run_dir.load_losses())))
            for a, b in zip(sharded, plain, strict=True)
        )
        evals = max(
            abs(x["loss"] - y["loss"])
            for a, b in zip(sharded, plain, strict=True)
            for x, y in zip(a.run_dir.load_eval(), b.run_dir.load_eval(), strict=True)
        )
        out[name] = {"max_loss_diff": diff, "max_eval_diff": evals, "log": logs,
                     "steps": [len(a.run_dir.load_losses()) for a in sharded]}
json.dump(out, sys.stdout)

"""The byte language model through the comparison, and time to target on its real results."""

import math

import pytest

from jaxsched.compare import experiment, targets
from jaxsched.workloads.charlm import SIZES, charlm_task
from jaxsched.workloads.text import stdlib_corpus


@pytest.mark.slow  # ~25 s on a quiet 2-core CPU: two compiled groups and their evaluations
def test_charlm_comparison_and_time_to_target():
    corpus = stdlib_corpus(SIZES["smoke"].max_bytes)
    task = charlm_task("smoke", corpus)
    res = experiment.run(task, candidates=["cosine", "sf_adamw"], lrs=[3e-3], horizons=[10, 20],
                         eval_every=5, identity={"corpus": corpus.manifest.sha256},
                         log=lambda m: None)
    assert {"loss", "bits_per_byte", "accuracy"} <= set(res.metrics)
    finals = res.final()
    assert all(math.isfinite(v) and v < 8.0 for vals in finals.values() for v in vals)
    target = targets.default_target(res)
    assert target == finals[("cosine", 3e-3, 20)][0]
    rows = targets.time_to_target(res, seconds_per_run_step={"cosine": 0.5, "sf_adamw": 1.0})
    by = {r["candidate"]: r for r in rows}
    assert by["cosine"]["steps_to_target"] <= 20  # its T=20 run reaches its own final value
    assert by["cosine"]["seconds_to_target"] == 0.5 * by["cosine"]["steps_to_target"]
    curve = dict(targets.run_curves(res)[("sf_adamw", 3e-3, None, 0)])
    assert set(curve) >= {5, 10, 15, 20}
    reached = by["sf_adamw"]["steps_to_target"]
    assert reached is None or (curve[reached] <= target
                               and all(curve[s] > target for s in curve if s < reached))

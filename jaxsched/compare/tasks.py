"""Built-in tasks of the comparison, and their presets.

* ``regression``: a teacher-student problem in pure JAX (a random sine-feature "teacher"
  labels Gaussian inputs with noise of std 0.5; a 2-hidden-layer GELU MLP learns it from
  minibatches of 32; ``evaluate`` is the test MSE on 1,024 held-out points, whose floor is the
  noise variance 0.25). Runs in seconds on a CPU.
* ``tinyvit``: the notes' TinyViT on CIFAR-10 (or the synthetic stand-in), the reproduction's
  trainer as one task; ``evaluate`` is the loss and accuracy on a test subset.

A preset fixes the grid (candidates, learning rates, horizons) and the task's size.

>>> task = regression()
>>> params = task.init(jax.random.key(0))
>>> batch = task.sample(jax.random.key(1))
>>> batch[0].shape, batch[1].shape
((32, 16), (32,))
>>> float(task.evaluate(params)["loss"]) > 0.25
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched.train.task import Task, image_classification_task

__all__ = ["PRESETS", "TASKS", "Preset", "bench_grid", "regression", "run_preset", "tinyvit"]

ALL = ("cosine", "linear", "wsd", "constant", "sf_adamw", "sf_adam_ema", "adam_ema")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A comparison's grid and the task's size."""

    name: str
    lrs: tuple[float, ...]
    horizons: tuple[int, ...]
    candidates: tuple[str, ...] = ALL
    eval_every: int | None = None
    task_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""


def regression(d_in: int = 16, d_teacher: int = 32, d_hidden: int = 64, n_train: int = 16384,
               n_test: int = 1024, noise: float = 0.5, batch_size: int = 32,
               data_seed: int = 0) -> Task:
    """The teacher-student regression of ``notebooks/schedule_free_vs_cosine.py`` as a task."""
    k_teacher, k_train, k_test, k_noise = jax.random.split(jax.random.key(data_seed), 4)
    teacher = jax.random.normal(k_teacher, (d_in, d_teacher)) / np.sqrt(d_in)
    readout = jax.random.normal(jax.random.fold_in(k_teacher, 1), (d_teacher,)) / np.sqrt(
        d_teacher)

    def label(x):
        return jnp.sin(1.5 * x @ teacher) @ readout

    x_train = jax.random.normal(k_train, (n_train, d_in))
    y_train = label(x_train) + noise * jax.random.normal(k_noise, (n_train,))
    x_test = jax.random.normal(k_test, (n_test, d_in))
    y_test = label(x_test) + noise * jax.random.normal(jax.random.fold_in(k_noise, 1), (n_test,))

    def init(key):
        keys = jax.random.split(key, 3)
        sizes = [(d_in, d_hidden), (d_hidden, d_hidden), (d_hidden, 1)]
        return [{"w": jax.random.normal(k, (m, n)) / np.sqrt(m), "b": jnp.zeros(n)}
                for k, (m, n) in zip(keys, sizes, strict=True)]

    def mse(params, x, y):
        for layer in params[:-1]:
            x = jax.nn.gelu(x @ layer["w"] + layer["b"])
        return jnp.mean(((x @ params[-1]["w"] + params[-1]["b"])[:, 0] - y) ** 2)

    def sample(key):
        idx = jax.random.randint(key, (batch_size,), 0, n_train)
        return x_train[idx], y_train[idx]

    def loss(params, batch, key):
        return mse(params, *batch)

    def evaluate(params):
        return {"loss": mse(params, x_test, y_test)}

    return Task(init, loss, sample, evaluate)


def tinyvit(preset: str = "quick", data: str = "auto", *, progress: bool = False,
            load: Callable | None = None, **overrides: Any) -> tuple[Task, str]:
    """The reproduction's TinyViT at a reproduction preset's size, as a task.

    Returns ``(task, data_name)``; ``data_name`` is ``"synthetic"`` when the stand-in was used.
    ``load(kind, n_train, n_test)`` replaces the data loader (the CLI's prints its warning).
    """
    from jaxsched.chapter import alchemist
    from jaxsched.train import data as data_lib
    from jaxsched.train.config import RunConfig
    from jaxsched.train.runner import make_model

    p = alchemist.PRESETS[preset]
    kw = {"batch_size": p.batch_size, "eval_examples": p.eval_examples, **overrides}
    # The reproduction preset's stand-in, difficulty knobs included: the same data as
    # `jaxsched reproduce --preset P`, so the comparison runs in the regime that preset was
    # sized for.
    if load is None:
        dataset = data_lib.load(data, progress=progress, synthetic_kwargs=p.synthetic_kwargs())
    else:
        dataset = load(data, p.synthetic_train, p.synthetic_test, **p.difficulty._asdict())
    model = make_model(RunConfig(model=p.model, steps=1))
    n = min(kw["eval_examples"], len(dataset.test_labels))
    task = image_classification_task(
        model, jnp.asarray(dataset.train_images), jnp.asarray(dataset.train_labels, jnp.int32),
        batch_size=kw["batch_size"], test_images=dataset.test_images[:n],
        test_labels=dataset.test_labels[:n],
    )
    return task, dataset.name


TASKS = ("regression", "tinyvit")

PRESETS: dict[str, dict[str, Preset]] = {
    "regression": {
        p.name: p for p in [
            Preset("smoke", lrs=(1e-2, 3e-2), horizons=(100, 200), eval_every=50,
                   description="about a minute on a 2-core CPU (compiles dominate)"),
            Preset("quick", lrs=(1e-3, 3e-3, 1e-2, 3e-2), horizons=(250, 500, 1000, 2000),
                   eval_every=125, description="about a minute on a 2-core CPU"),
            Preset("cpu", lrs=(1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2),
                   horizons=(500, 1000, 2000, 4000, 8000), eval_every=250,
                   description="a few minutes on a 2-core CPU"),
            Preset("full", lrs=(5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2),
                   horizons=(1000, 2000, 4000, 8000, 16000, 32000), eval_every=500,
                   description="tens of minutes on a CPU; seconds on a GPU"),
        ]
    },
    "tinyvit": {
        p.name: p for p in [
            Preset("smoke", lrs=(1e-3, 3e-3), horizons=(20, 40), eval_every=10,
                   task_kwargs={"preset": "smoke"}, description="seconds; a toy TinyViT"),
            Preset("quick", lrs=(3e-4, 1e-3, 3e-3, 1e-2), horizons=(100, 200, 400), eval_every=50,
                   task_kwargs={"preset": "quick", "eval_examples": 500},
                   description="about 12 minutes on a quiet 2-core CPU with 3 seeds; half-width, "
                   "half-depth TinyViT, batch 64"),
            Preset("cpu", lrs=(3e-4, 1e-3, 3e-3), horizons=(750, 1500, 3000), eval_every=150,
                   task_kwargs={"preset": "cpu", "eval_examples": 2000},
                   description="hours on a CPU; the notes' TinyViT"),
            Preset("full", lrs=(3e-4, 1e-3, 3e-3), horizons=(12500, 25000, 50000, 100000),
                   eval_every=2500, task_kwargs={"preset": "full"},
                   description="the notes' TinyViT and horizon; for a GPU or TPU"),
        ]
    },
}
"""``PRESETS[task][preset]``."""


def bench_grid(preset: Preset) -> dict[str, Any]:
    """The small grid a preset's grouped-vs-alone measurement trains: 2 candidates (cosine,
    sf_adamw), the first 2 learning rates, the shortest horizon, one seed."""
    return {"candidates": ["cosine", "sf_adamw"], "lrs": list(preset.lrs[:2]),
            "horizons": [min(preset.horizons)], "seeds": 1}


def run_preset(
    task_name: str,
    preset_name: str,
    out,
    *,
    candidates: Sequence[str] | None = None,
    lrs: Sequence[float] | None = None,
    horizons: Sequence[int] | None = None,
    seeds: int = 1,
    warmup: float = 0.0,
    weight_decay: float = 0.0,
    eval_every: int | None = None,
    data: str = "auto",
    bench: bool = True,
    group: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
    load: Callable | None = None,
):
    """What ``jaxsched compare`` does: the preset's grid (with overrides) on a built-in task,
    the grouped-vs-alone measurement, ``out/results.csv``, ``REPORT.md`` and figures."""
    import time

    from jaxsched.compare import experiment, report

    if task_name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got task={task_name!r}")
    if preset_name not in PRESETS[task_name]:
        raise ValueError(f"preset must be one of {', '.join(PRESETS[task_name])}, got "
                         f"preset={preset_name!r}")
    p = PRESETS[task_name][preset_name]
    start = time.perf_counter()
    if task_name == "regression":
        task, data_name = regression(**p.task_kwargs), "synthetic teacher-student regression"
        notes = ["Task: teacher-student regression (16-d Gaussian inputs, sine-feature teacher, "
                 "label noise std 0.5: the test MSE cannot go below 0.25), a 64-64 GELU MLP, "
                 "batch 32; metric: test MSE on 1,024 held-out points."]
    else:
        task, data_name = tinyvit(data=data, progress=progress, load=load, **p.task_kwargs)
        from jaxsched.chapter import alchemist

        rp = alchemist.PRESETS[p.task_kwargs["preset"]]
        m = rp.model
        notes = [f"Task: TinyViT width {m.features}, {m.num_blocks} blocks, {m.num_heads} heads, "
                 f"patch {m.patch_size}, dropout {m.dropout}; batch "
                 f"{p.task_kwargs.get('batch_size', rp.batch_size)}; metric: test cross-entropy "
                 f"on {p.task_kwargs.get('eval_examples', rp.eval_examples)} test images.",
                 f"**Data: {data_name}**" + (
                     " — a deterministic CIFAR-shaped synthetic stand-in, NOT CIFAR-10."
                     if data_name != "cifar10" else " (the canonical CIFAR-10 tarball).")]
    grid = {"candidates": list(candidates or p.candidates), "lrs": list(lrs or p.lrs),
            "horizons": list(horizons or p.horizons), "seeds": seeds}
    res = experiment.run(
        task, **grid, warmup=warmup, weight_decay=weight_decay,
        eval_every=eval_every or p.eval_every, out=out, task_name=f"{task_name}-{preset_name}",
        group=group, progress=progress, log=log, report=False,
    )
    t = res.timing
    if t["run_steps"]:
        log(f"grid: {t['run_steps']} run-steps in {t['seconds']:.1f} s = "
            f"{t['run_steps_per_s']:.1f} run-steps/s ({'grouped' if group else 'one at a time'},"
            " compiles and evaluations included)")
    if res.branching:
        b = res.branching
        log(f"WSD branching: {b['branches']} cooldowns branched; WSD trained "
            f"{b['trained_steps']} run-steps instead of {b['unbranched_steps']}")
    if bench:
        small = bench_grid(p)
        log(f"measuring grouped vs one at a time on a small grid {small} ...")
        b = experiment.bench(task, **small, eval_every=eval_every or p.eval_every,
                             log=lambda m: None)
        res.timing["bench"] = b
        log(f"small grid ({b['run_steps']} run-steps): grouped "
            f"{b['grouped_run_steps_per_s']:.1f} run-steps/s, one at a time "
            f"{b['alone_run_steps_per_s']:.1f} run-steps/s: {b['speedup']:.2f}x")
    wall = time.perf_counter() - start
    notes = [*notes, f"Preset: {task_name} {preset_name} ({p.description}); wall time of this "
             f"invocation {wall:.0f} s (resumed runs are not retrained)."]
    path = report.write(res, out, title=f"Anytime comparison: {task_name}, {preset_name} preset",
                        notes=notes)
    return res, path

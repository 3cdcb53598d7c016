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
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched.train.task import Task, image_classification_task

__all__ = ["PRESETS", "TASKS", "Preset", "regression", "tinyvit"]

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
    if load is None:
        dataset = data_lib.load(data, progress=progress, synthetic_kwargs={
            "n_train": p.synthetic_train, "n_test": p.synthetic_test})
    else:
        dataset = load(data, p.synthetic_train, p.synthetic_test)
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
            Preset("smoke", lrs=(3e-3, 1e-2, 3e-2), horizons=(50, 100, 200), eval_every=25,
                   description="seconds"),
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
            Preset("quick", lrs=(1e-3, 3e-3), horizons=(100, 200, 400), eval_every=50,
                   task_kwargs={"preset": "quick", "eval_examples": 500},
                   description="10-15 minutes on a 2-core CPU with 3 seeds; half-width, "
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

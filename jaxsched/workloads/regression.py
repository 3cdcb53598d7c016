"""A teacher-student regression in pure JAX: the workload that trains in seconds.

A random sine-feature "teacher" labels Gaussian inputs with noise of std 0.5; a 2-hidden-layer
GELU MLP learns it from minibatches of 32; ``evaluate`` is the test MSE on 1,024 held-out
points, whose floor is the noise variance 0.25. It is the task of
``notebooks/schedule_free_vs_cosine.py``.

>>> import jax
>>> task = regression()
>>> params = task.init(jax.random.key(0))
>>> batch = task.sample(jax.random.key(1))
>>> batch[0].shape, batch[1].shape
((32, 16), (32,))
>>> float(task.evaluate(params)["loss"]) > 0.25
True
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched.train.task import Task
from jaxsched.workloads.catalogue import Built

__all__ = ["N_TRAIN", "build", "regression"]

N_TRAIN = 16384
"""Training points of the built-in size."""


def regression(d_in: int = 16, d_teacher: int = 32, d_hidden: int = 64, n_train: int = N_TRAIN,
               n_test: int = 1024, noise: float = 0.5, batch_size: int = 32,
               data_seed: int = 0) -> Task:
    """The teacher-student regression as a task (see the module docstring)."""
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


def build(size: str = "quick") -> Built:
    """The built-in size of the regression (it has one: ``quick``)."""
    del size  # one size
    notes = ["Task: teacher-student regression (16-d Gaussian inputs, sine-feature teacher, "
             "label noise std 0.5: the test MSE cannot go below 0.25), a 64-64 GELU MLP, "
             "batch 32; metric: test MSE on 1,024 held-out points.",
             "**Data: synthetic teacher-student regression.**"]
    return Built(regression(), {"task": "regression"}, notes, data_name="teacher-student",
                 examples_per_step=32, train_examples=N_TRAIN)

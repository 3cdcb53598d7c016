"""The built-in tasks of the comparison: what ``jaxsched compare --task NAME`` trains.

* ``regression``: a teacher-student problem in pure JAX (a random sine-feature "teacher"
  labels Gaussian inputs with noise of std 0.5; a 2-hidden-layer GELU MLP learns it from
  minibatches of 32; ``evaluate`` is the test MSE on 1,024 held-out points, whose floor is the
  noise variance 0.25). Runs in seconds on a CPU.
* ``tinyvit``: the notes' TinyViT on CIFAR-10 (or the synthetic stand-in) at one of the sized
  workloads of :mod:`jaxsched.train.workloads`; ``evaluate`` is the loss and accuracy on a
  test subset.
* ``charlm``: a byte-level transformer language model on real text, the running Python's
  standard-library source (:mod:`jaxsched.train.charlm`); ``evaluate`` is the validation loss
  in bits per byte. The worked example of a sequence task.

Each is a :class:`BuiltinTask` of :data:`TASKS`: ``build(size, data)`` returns the task, what it
computes (the identity that keys its run directories) and lines that describe it in REPORT.md.
The grids each task runs at (its presets) are in :mod:`jaxsched.compare.presets`.

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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched.train.task import Task

__all__ = ["TASKS", "BuiltinTask", "Built", "charlm", "regression", "tinyvit"]


class Built(NamedTuple):
    """A built task: the :class:`Task`, what it computes (JSON identity), report lines, and
    JSON files to write beside the report (``{file name: content}``)."""

    task: Task
    identity: dict[str, Any]
    notes: list[str]
    files: dict[str, Any] = {}


@dataclasses.dataclass(frozen=True)
class BuiltinTask:
    """A task ``jaxsched compare --task`` knows by name.

    Attributes:
      name: the ``--task`` value.
      build: ``(size, data, progress) -> Built``; ``size`` names the task's size (the preset's
        ``size``), ``data`` is ``--data`` (tasks without a data choice ignore it).
      description: one line for ``--help``.
    """

    name: str
    build: Callable[[str, str, bool], Built]
    description: str


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


def _regression(size: str, data: str, progress: bool) -> Built:
    del size, data, progress  # one size; its own data
    notes = ["Task: teacher-student regression (16-d Gaussian inputs, sine-feature teacher, "
             "label noise std 0.5: the test MSE cannot go below 0.25), a 64-64 GELU MLP, "
             "batch 32; metric: test MSE on 1,024 held-out points.",
             "**Data: synthetic teacher-student regression.**"]
    return Built(regression(), {"task": "regression"}, notes)


def tinyvit(size: str = "quick", data: str = "auto", *, progress: bool = False) -> Built:
    """The notes' TinyViT at the workload ``size`` of :mod:`jaxsched.train.workloads`.

    The data is the workload's (CIFAR-10 when it can be had with ``data="auto"``, else the
    stand-in with a :class:`~jaxsched.train.data.SyntheticFallbackWarning`), so the comparison
    runs in the regime the reproduction's preset of the same name was sized for.
    """
    from jaxsched.train.workloads import WORKLOADS

    if size not in WORKLOADS:
        raise ValueError(f"size must be one of {', '.join(WORKLOADS)}, got size={size!r}")
    w = WORKLOADS[size]
    dataset = w.load_data(data, progress=progress)
    m = w.model
    n = min(w.eval_examples, len(dataset.test_labels))
    notes = [f"Task: TinyViT width {m.features}, {m.num_blocks} blocks, {m.num_heads} heads, "
             f"patch {m.patch_size}, dropout {m.dropout}; batch {w.batch_size}; metric: test "
             f"cross-entropy on {n} test images.",
             f"**Data: {dataset.name}**" + (
                 " — a deterministic CIFAR-shaped synthetic stand-in, NOT CIFAR-10."
                 if dataset.name != "cifar10" else " (the canonical CIFAR-10 tarball).")]
    return Built(w.task(dataset), w.describe(dataset.name), notes)


def charlm(size: str = "quick") -> Built:
    """The byte-level language model of :mod:`jaxsched.train.charlm` at ``size``, on the
    running Python's standard-library source (:mod:`jaxsched.train.text`).

    The corpus manifest (Python version, files, bytes, sha256 of each split) is in the
    identity, so two machines with different standard libraries never share runs, in the
    REPORT's notes, and whole in ``corpus.json``.
    """
    from jaxsched.train import charlm as charlm_lib
    from jaxsched.train.text import stdlib_corpus

    if size not in charlm_lib.SIZES:
        raise ValueError(f"size must be one of {', '.join(charlm_lib.SIZES)}, got "
                         f"size={size!r}")
    s = charlm_lib.SIZES[size]
    corpus = stdlib_corpus(s.max_bytes)
    m = corpus.manifest.to_dict(files=False)
    notes = [f"Task: byte-level decoder-only transformer, width {s.d_model}, {s.num_layers} "
             f"layers, {s.num_heads} heads, context {s.context}, batch {s.batch_size} windows; "
             f"metric: validation loss in bits per byte on {s.val_windows} fixed windows.",
             f"**Data: real text**, the standard-library source of Python {m['python']}: "
             f"{m['train_bytes']:,} training and {m['val_bytes']:,} validation bytes, split by "
             f"file; sha256 {m['sha256']} (file list in `corpus.json`)."]
    identity = {"task": "charlm", "size": s._asdict(), "corpus": m}
    return Built(charlm_lib.charlm_task(s, corpus), identity, notes,
                 {"corpus.json": corpus.manifest.to_dict()})


TASKS: dict[str, BuiltinTask] = {
    t.name: t
    for t in [
        BuiltinTask("regression", _regression, "a teacher-student MLP in seconds"),
        BuiltinTask("tinyvit", lambda size, data, progress: tinyvit(size, data,
                                                                     progress=progress),
                    "the notes' TinyViT at the reproduction's workload of the preset's size"),
        BuiltinTask("charlm", lambda size, data, progress: charlm(size),
                    "a byte-level transformer language model on the Python standard library's "
                    "source (bits per byte)"),
    ]
}
"""The built-in tasks by name."""

"""The catalogue: every built-in workload by name and size, and how to add one.

A :class:`Workload` is what ``--task NAME`` trains, whatever the optimizer or the schedule: a
model, its data and its loss at a few named :class:`Size`\\ s. ``build(size)`` returns a
:class:`Built`: the :class:`~jaxsched.train.task.Task` the trainer runs, the identity that keys
its run directories (what it computes: model, data, sizes), lines that describe it in a
REPORT, and how many examples a step and an epoch hold (the regime rule counts epochs).

Each size also names the budget it is made for: ``steps``, the horizon of a run at that size,
and ``lr``, an Adam learning rate that trains it over that horizon. The reproduction
(:mod:`jaxsched.chapter`) trains the chapter's runs at them; the comparison
(:mod:`jaxsched.compare`) brings its own grids for the built-in tasks and derives one from them
for any other.

=================  ==================================================================
``tinyvit``        the notes' TinyViT on CIFAR-10 or the synthetic stand-in
                   (:mod:`jaxsched.workloads.image`)
``charlm``         a byte-level transformer on the Python standard library's source
                   (:mod:`jaxsched.workloads.charlm`)
``regression``     a teacher-student MLP in seconds (:mod:`jaxsched.workloads.regression`)
=================  ==================================================================

Adding a workload is one module that defines its builder and one :class:`Workload` entry in
:data:`BUILTIN` (or, for a workload of your own, :func:`register` at run time):

>>> import jax, jax.numpy as jnp
>>> from jaxsched.train.task import Task
>>> def build_line(size, *, data="auto", progress=False):
...     xs = jnp.linspace(-1.0, 1.0, 64)
...     task = Task(init=lambda key: jnp.zeros(2),
...                 loss=lambda p, b, key: jnp.mean((p[0] * b + p[1] - 3 * b) ** 2),
...                 sample=lambda key: jax.random.choice(key, xs, (8,)))
...     return Built(task, {"task": "line"}, ["Task: a line."], data_name="grid",
...                  examples_per_step=8, train_examples=64)
>>> line = register(Workload("line", build_line, (Size("smoke", steps=40, lr=0.1),),
...                          "fit a line"))
>>> built = get("line").build("smoke")
>>> float(built.task.metrics(jnp.zeros(2))["loss"]) > 0
True
>>> unregister("line")
>>> sorted(WORKLOADS)
['charlm', 'regression', 'tinyvit']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

from jaxsched import _validate as v
from jaxsched.train.task import Task

__all__ = ["BUILTIN", "WORKLOADS", "Built", "Size", "Workload", "build", "get", "register",
           "unregister"]


class Built(NamedTuple):
    """A workload built at one size.

    Attributes:
      task: what the trainer runs.
      identity: what it computes, as JSON (model, data, sizes): it keys the run directories,
        so two builds that compute different things never share a run.
      notes: lines for a REPORT: the model, the metric, and the data it was trained on.
      data_name: the data it was trained on (``"cifar10"``, ``"synthetic"``, ...).
      examples_per_step: examples a training step reads (images; bytes predicted).
      train_examples: examples in the training set, in the same unit (an epoch).
      chance_loss: the training loss of a uniform prediction (``ln 10`` for ten classes),
        ``None`` where there is none.
      files: JSON files to write beside a REPORT (``{file name: content}``).
    """

    task: Task
    identity: dict[str, Any]
    notes: list[str]
    data_name: str
    examples_per_step: int
    train_examples: int
    chance_loss: float | None = None
    files: dict[str, Any] = {}


@dataclasses.dataclass(frozen=True)
class Size:
    """One size of a workload and the budget it is made for.

    Attributes:
      name: the size's name (``--preset`` of ``reproduce``; a comparison preset's ``size``).
      steps: the horizon of a run at this size.
      lr: an Adam learning rate that trains it over ``steps`` steps.
      lr_source: where ``lr`` comes from (a sweep's directory under ``results/``, or a rule).
      description: one line for help texts.
    """

    name: str
    steps: int
    lr: float
    lr_source: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        v.check_int("steps", self.steps, minimum=1)
        v.check_positive("lr", self.lr)


@dataclasses.dataclass(frozen=True)
class Workload:
    """A model, its data and its loss at named sizes.

    Attributes:
      name: the ``--task`` value.
      builder: ``builder(size, *, data, progress, **options) -> Built``.
      sizes: its :class:`Size`\\ s, smallest first.
      description: one line for ``--help``.
      data: the ``--data`` values it understands (``"auto"``: its own data).
      options: the keyword options ``builder`` takes beside those (``tinyvit``: ``readout``).
    """

    name: str
    builder: Callable[..., Built]
    sizes: tuple[Size, ...]
    description: str
    data: tuple[str, ...] = ("auto",)
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name must be an identifier, got name={self.name!r}")
        if not callable(self.builder):
            raise ValueError(f"builder must be callable, got builder={self.builder!r}")
        if not self.sizes or not all(isinstance(s, Size) for s in self.sizes):
            raise ValueError(f"sizes must be a non-empty tuple of Size, got sizes={self.sizes!r}")
        names = [s.name for s in self.sizes]
        if len(set(names)) != len(names):
            raise ValueError(f"sizes must have distinct names, got {names}")
        if "auto" not in self.data:
            raise ValueError(f"data must include 'auto', got data={self.data!r}")

    def size(self, name: str) -> Size:
        """The size called ``name``; ``ValueError`` naming the choices otherwise."""
        by_name = {s.name: s for s in self.sizes}
        v.check_choice("size", name, tuple(by_name))
        return by_name[name]

    def build(self, size: str, *, data: str = "auto", progress: bool = False,
              **options: Any) -> Built:
        """The workload at ``size`` on ``data``; ``options`` are the workload's own.

        ``ValueError`` names an unknown size, a ``data`` the workload does not read, an option it
        does not take, or a builder that did not return a :class:`Built`.
        """
        self.size(size)
        if data not in self.data:
            raise ValueError(f"data must be one of {', '.join(self.data)} for the {self.name} "
                             f"workload, got data={data!r}")
        for key in options:
            if key not in self.options:
                raise ValueError(
                    f"{key} is not an option of the {self.name} workload (its options: "
                    f"{', '.join(self.options) or 'none'}), got {key}={options[key]!r}")
        built = self.builder(size, data=data, progress=progress, **options)
        if not isinstance(built, Built):
            raise ValueError(f"the {self.name} workload's builder must return a Built, got "
                             f"{type(built).__name__}")
        v.check_int("examples_per_step", built.examples_per_step, minimum=1)
        v.check_int("train_examples", built.train_examples, minimum=1)
        return built


def _tinyvit(size: str, *, data: str, progress: bool, readout: str | None = None) -> Built:
    from jaxsched.workloads import image

    return image.build(size, data=data, progress=progress, readout=readout)


def _charlm(size: str, *, data: str, progress: bool) -> Built:
    from jaxsched.workloads import charlm

    return charlm.build(size)


def _regression(size: str, *, data: str, progress: bool) -> Built:
    from jaxsched.workloads import regression

    return regression.build(size)


# The builders import their modules when called, so that listing the catalogue (the CLI's
# --help) loads no model, data set or corpus.
BUILTIN: tuple[Workload, ...] = (
    Workload(
        "tinyvit", _tinyvit,
        (
            Size("smoke", steps=40, lr=1e-3,
                 description="seconds; a toy TinyViT for the tests (outside the regime)"),
            Size("quick", steps=40_000, lr=1e-3, lr_source="results/quick-lr-sweep",
                 description="about 4 minutes on a 2-core CPU; quarter-width, half-depth "
                 "TinyViT, 40,000 steps of 4"),
            Size("cpu", steps=32_000, lr=1.25e-4, lr_source="results/cpu-lr-sweep",
                 description="a few hours on a 2-core CPU; the notes' TinyViT, 32,000 steps of 4"),
            Size("full", steps=100_000, lr=1e-3, lr_source="the notes'",
                 description="the notes' TinyViT, batch, data and 100k steps; for a GPU or TPU"),
        ),
        "the notes' TinyViT on CIFAR-10 (or its synthetic stand-in)",
        data=("auto", "cifar10", "synthetic"), options=("readout",),
    ),
    Workload(
        "charlm", _charlm,
        (
            Size("smoke", steps=40, lr=1e-2,
                 description="seconds; a one-layer byte model on 64 KiB of text"),
            Size("quick", steps=400, lr=3e-3,
                 description="a 2-layer width-64 byte model on 2 MB of text"),
            Size("cpu", steps=8000, lr=1e-3, lr_source="results/charlm-cpu-lr-sweep",
                 description="the quick model at context 32, batch 8, for 8000 steps: long "
                 "enough that tuned cooldowns beat tuned constant"),
            Size("gpu", steps=4000, lr=1e-3,
                 description="a 3.3M-parameter byte model on the whole corpus; for a GPU"),
        ),
        "a byte-level transformer language model on the Python standard library's source "
        "(bits per byte)",
    ),
    Workload(
        "regression", _regression,
        (Size("quick", steps=2000, lr=1e-2, description="seconds on a CPU"),),
        "a teacher-student MLP in seconds",
    ),
)
"""The built-in workloads."""

WORKLOADS: dict[str, Workload] = {w.name: w for w in BUILTIN}
"""Every workload ``--task`` knows, by name: :data:`BUILTIN` and those :func:`register`\\ ed."""


def register(workload: Workload) -> Workload:
    """Add ``workload`` to :data:`WORKLOADS` (so ``--task`` and the presets know it).

    ``ValueError`` if its name is taken.
    """
    if not isinstance(workload, Workload):
        raise ValueError(f"workload must be a Workload, got workload={workload!r}")
    if workload.name in WORKLOADS:
        raise ValueError(f"a workload named {workload.name!r} exists already")
    WORKLOADS[workload.name] = workload
    return workload


def unregister(name: str) -> None:
    """Remove a workload added by :func:`register` (the built-in ones stay)."""
    if name in {w.name for w in BUILTIN}:
        raise ValueError(f"name must not be a built-in workload, got name={name!r}")
    v.check_choice("name", name, tuple(WORKLOADS))
    del WORKLOADS[name]


def get(name: str) -> Workload:
    """``WORKLOADS[name]``; ``ValueError`` naming the choices otherwise."""
    v.check_choice("task", name, tuple(WORKLOADS))
    return WORKLOADS[name]


def build(name: str, size: str, *, data: str = "auto", progress: bool = False,
          **options: Any) -> Built:
    """``get(name).build(size, data=data, progress=progress, **options)``."""
    return get(name).build(size, data=data, progress=progress, **options)


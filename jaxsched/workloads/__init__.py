"""What is trained: the built-in workloads, their models and data, and one catalogue of them.

:mod:`jaxsched.train` knows how to train any :class:`~jaxsched.train.task.Task`; this package
holds what the built-in tasks train, each in its own module, and the catalogue that names them:

======================================  ====================================================
:mod:`~jaxsched.workloads.catalogue`    the table of workloads by name and size (``--task``)
:mod:`~jaxsched.workloads.image`        the notes' image workload: sizes, task, data choice
:mod:`~jaxsched.workloads.tinyvit`      the notes' TinyViT, as fast flax
:mod:`~jaxsched.workloads.notes_model`  the notes' TinyViT, their code (the fidelity check)
:mod:`~jaxsched.workloads.cifar10`      the CIFAR-10 loader
:mod:`~jaxsched.workloads.standin`      the synthetic CIFAR-shaped stand-in
:mod:`~jaxsched.workloads.charlm`       the byte-level transformer language model
:mod:`~jaxsched.workloads.text`         the standard-library corpus it reads
:mod:`~jaxsched.workloads.regression`   the teacher-student regression
:mod:`~jaxsched.workloads.bench`        the trainer against the notes' own loop on TinyViT
======================================  ====================================================

>>> from jaxsched import workloads
>>> sorted(workloads.WORKLOADS)
['charlm', 'regression', 'tinyvit']
>>> [s.name for s in workloads.get("tinyvit").sizes]
['smoke', 'quick', 'cpu', 'full']
"""

from jaxsched.workloads.catalogue import (
    BUILTIN,
    WORKLOADS,
    Built,
    Size,
    Workload,
    build,
    get,
    register,
    unregister,
)

__all__ = ["BUILTIN", "WORKLOADS", "Built", "Size", "Workload", "build", "get", "register",
           "unregister"]

"""Several JAX processes (hosts) working on one job: who writes, host reads, barriers.

A job started on several processes with :func:`initialize` runs every compiled program on all
of them (single program, multiple data): the runner places a group's runs on a mesh over every
process's devices. What each process reads back is the whole array (:func:`to_host` gathers
the shards other processes hold), so every process knows every run's losses and state; files
that every process would write identically (losses, evaluations, summaries, reports, figures)
are written by process 0 alone (:func:`is_primary`), and checkpoints are written by orbax, to
which every process contributes. :func:`barrier` makes the others wait until process 0's files
are on disk before they read them. With one process all of this reduces to plain reads.

The output directory must be one shared filesystem path for all processes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxsched import _validate as v

__all__ = ["barrier", "initialize", "is_primary", "process_count", "to_host"]


def initialize(
    coordinator: str, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join a job of ``num_processes`` processes coordinated at ``coordinator`` (HOST:PORT).

    ``coordinator="auto"`` calls ``jax.distributed.initialize()`` with no arguments, so that JAX
    reads the job from its environment as it does for SLURM, Open MPI, TPU pods and the
    ``JAX_COORDINATOR_ADDRESS`` variables; ``num_processes`` and ``process_id`` are then not
    given. Must run before JAX starts its backend (before any array is made). On the CPU
    backend the processes exchange data with gloo collectives.
    """
    import jax

    if coordinator == "auto":
        for name, value in (("num_processes", num_processes), ("process_id", process_id)):
            if value is not None:
                raise ValueError(f"{name} must not be given with coordinator='auto' (the job's "
                                 f"environment gives it), got {name}={value!r}")
        try:
            jax.distributed.initialize()
        except ValueError as err:
            raise ValueError(f"coordinator='auto': JAX found no job to join in this "
                             f"environment (SLURM, Open MPI, a TPU pod, JAX_COORDINATOR_ADDRESS):"
                             f" {err}") from err
        return
    if not isinstance(coordinator, str) or coordinator.count(":") != 1 or not all(
        coordinator.split(":")
    ) or not coordinator.split(":")[1].isdigit():
        raise ValueError(f"coordinator must be HOST:PORT or 'auto', got "
                         f"coordinator={coordinator!r}")
    if num_processes is None or process_id is None:
        missing = "num_processes" if num_processes is None else "process_id"
        raise ValueError(f"{missing} must be given with coordinator=HOST:PORT, got "
                         f"{missing}=None")
    v.check_int("num_processes", num_processes, minimum=1)
    v.check_int("process_id", process_id, minimum=0)
    if process_id >= num_processes:
        raise ValueError(f"process_id must be below num_processes={num_processes}, got "
                         f"process_id={process_id}")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)


def process_count() -> int:
    import jax

    return jax.process_count()


def is_primary() -> bool:
    """Whether this process writes the job's shared files (process 0)."""
    import jax

    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process of the job reaches the barrier ``name`` (no-op alone)."""
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def to_host(tree: Any) -> Any:
    """``tree`` as NumPy arrays holding every element, on every process.

    A leaf spread over several processes' devices is gathered (each process holds only its
    shards); any other leaf is copied to the host as it is.
    """
    import jax

    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)

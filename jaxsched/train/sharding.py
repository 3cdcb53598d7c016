"""Placing a group of runs on the local devices with ``jax.sharding``.

* Several runs: the run axis is split across a 1-D mesh of all local devices
  (``PartitionSpec("runs")``). When the number of runs is not a multiple of the device count the
  group is padded with copies of its last run, whose results are dropped: every device gets the
  same amount of work and one program serves the whole group.
* One run: data parallel. Parameters and optimizer state are replicated and each step's batch
  is split across the devices (``PartitionSpec("data")`` on the batch axis); XLA inserts the
  gradient all-reduce.

Nothing here schedules work by hand: the compiled step is the same program, ``jit`` partitions
it from the shardings of its inputs (and the batch constraint).

Several processes: after :func:`jaxsched._dist.initialize` in every process the mesh spans
``jax.devices()`` of all of them, and a group's runs are split over every process's devices.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def local_mesh(axis: str, devices=None) -> Mesh | None:
    """A 1-D mesh over ``devices`` (default: all), or ``None`` when there is only one."""
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) < 2:
        return None
    return Mesh(np.array(devices), (axis,))


def padded_size(n_runs: int, mesh: Mesh | None) -> int:
    """``n_runs`` rounded up to a multiple of the mesh size."""
    if mesh is None:
        return n_runs
    d = mesh.size
    return -(-n_runs // d) * d


def pad_runs(tree: Any, n: int) -> Any:
    """Pad the leading run axis of every leaf to ``n`` by repeating the last run."""

    def pad(x):
        # Host arrays stay on the host: in a job of several processes only a host value can be
        # placed on a mesh that spans them all.
        xp = jax.numpy if isinstance(x, jax.Array) else np
        x = x if isinstance(x, jax.Array) else np.asarray(x)
        extra = n - x.shape[0]
        if extra <= 0:
            return x
        return xp.concatenate([x, xp.repeat(x[-1:], extra, axis=0)], axis=0)

    return jax.tree.map(pad, tree)


def shard_runs(tree: Any, mesh: Mesh) -> Any:
    """Split the leading (run) axis of every leaf across ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(mesh.axis_names[0])))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """A full copy of every leaf on every device of ``mesh``."""
    return jax.device_put(tree, replicated(mesh))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of an array copied whole onto every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of a batch ``[B, ...]`` split along its first axis (data parallel)."""
    return NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))

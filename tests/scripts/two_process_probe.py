"""One process of a JAX job of several processes on the CPU backend (see launch_two_processes.py).

Usage: python two_process_probe.py COORDINATOR NUM_PROCESSES PROCESS_ID OUT_DIR

Tries what a trainer of several hosts needs: a psum over a global mesh, ``process_allgather``
of a run-sharded array, reading a global array's addressable shards, a checkpoint of a globally
sharded array written and read by all processes into one directory (orbax directly, and
jaxsched's Checkpointer), and a file written by process 0 only. Prints one JSON line: the
facts found, the time each stage took, and ``checks_failed`` (empty when all went as
expected). Arrays are tiny; what is measured is startup and coordination, not compute.
"""

import glob
import json
import os
import sys
import time
import traceback

t_start = time.perf_counter()
coordinator, num_processes, process_id, out_dir = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])

import jax  # noqa: E402

t_import = time.perf_counter()
# Arguments, not environment: this JAX reads JAX_COORDINATOR_ADDRESS itself but has no
# variables for the number of processes or the process id (outside Slurm, Open MPI, TPU, k8s).
jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                           process_id=process_id, initialization_timeout=120)
t_init = time.perf_counter()

import numpy as np  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

facts = {
    "process": jax.process_index(),
    "process_count": jax.process_count(),
    "local_devices": [str(d) for d in jax.local_devices()],
    "global_devices": [f"{d} (process {d.process_index})" for d in jax.devices()],
    "cpu_collectives": jax.config.jax_cpu_collectives_implementation,
    "jax": jax.__version__,
    "orbax": ocp.__version__ if hasattr(ocp, "__version__") else "?",
}
t_devices = time.perf_counter()
timings = {"import_jax": t_import - t_start, "initialize": t_init - t_import,
           "backend_and_devices": t_devices - t_init}
failed: list[str] = []


def check(name, condition, detail=""):
    if not condition:
        failed.append(f"{name}: {detail}")


def stage(name):
    def run(fn):
        t = time.perf_counter()
        try:
            fn()
        except Exception:  # noqa: BLE001 - reported in the JSON line for the test to fail on
            failed.append(f"{name} raised: {traceback.format_exc(limit=4)[-1500:]}")
        timings[name] = time.perf_counter() - t
        return fn
    return run


n = jax.device_count()
mesh = jax.make_mesh((n,), ("runs",), devices=jax.devices())
run_sharded = NamedSharding(mesh, P("runs"))
replicated = NamedSharding(mesh, P())
ROWS = 2  # rows per device: run r holds the values r * 10 + [0, 1, 2]


def global_runs():
    """A (ROWS * n, 3) array sharded over runs; each process supplies only its own rows."""
    def rows(index):
        lo = index[0].start or 0
        hi = index[0].stop if index[0].stop is not None else ROWS * n
        r = np.arange(lo, hi, dtype=np.float32)[:, None]
        return r * 10 + np.arange(3, dtype=np.float32)[None, :]
    return jax.make_array_from_callback((ROWS * n, 3), run_sharded, rows)


EXPECTED = np.arange(ROWS * n, dtype=np.float32)[:, None] * 10 + np.arange(3, dtype=np.float32)


@stage("psum")
def _psum():
    x = global_runs()
    shard_sum = jax.jit(jax.shard_map(lambda a: jax.lax.psum(a.sum(0), "runs"), mesh=mesh,
                                      in_specs=P("runs"), out_specs=P()))
    total = shard_sum(x)
    # the result is replicated: every process holds the whole of it and may read it
    check("psum", np.allclose(np.asarray(total), EXPECTED.sum(0)), np.asarray(total))
    mean = jax.jit(lambda a: a.mean(), out_shardings=replicated)(x)  # XLA's own all-reduce
    check("jit mean", np.isclose(float(mean), EXPECTED.mean()), float(mean))


@stage("host_read_of_global_array")
def _host_read():
    x = global_runs()
    try:
        np.asarray(x)
    except RuntimeError as e:
        facts["np_asarray_of_global_array"] = str(e).splitlines()[0][:200]
    else:
        failed.append("np.asarray of a run-sharded global array did not fail")


@stage("device_put_of_host_array")
def _device_put():
    # The runner's way of placing a cohort: the whole host array, the same in every process,
    # put on a global sharding; each process keeps its own rows.
    x = jax.device_put(EXPECTED, run_sharded)
    for s in x.addressable_shards:
        check("device_put shard", np.array_equal(np.asarray(s.data), EXPECTED[s.index]))
    y = jax.device_put(EXPECTED, replicated)
    check("replicated is readable", np.array_equal(np.asarray(y), EXPECTED))
    losses = jax.jit(lambda a: a.sum(1), out_shardings=replicated)(x)  # run-sharded in, all out
    check("replicated output is readable", np.array_equal(np.asarray(losses), EXPECTED.sum(1)))


@stage("process_allgather")
def _allgather():
    x = global_runs()
    whole = multihost_utils.process_allgather(x, tiled=True)
    check("process_allgather", isinstance(whole, np.ndarray) and np.array_equal(whole, EXPECTED),
          whole)


@stage("addressable_shards")
def _shards():
    x = global_runs()
    mine = []
    for s in x.addressable_shards:
        rows = range(*s.index[0].indices(ROWS * n))
        check("shard data", np.array_equal(np.asarray(s.data), EXPECTED[s.index]), s.index)
        mine.extend(rows)
    facts["rows_held_here"] = mine
    check("shards are this process's", all(s.device.process_index == jax.process_index()
                                           for s in x.addressable_shards))
    check("rows split evenly", len(mine) == ROWS * jax.local_device_count(), mine)


@stage("orbax_checkpoint")
def _orbax():
    directory = os.path.join(out_dir, "orbax")
    options = ocp.CheckpointManagerOptions(max_to_keep=2, create=True,
                                           enable_async_checkpointing=False)
    x = global_runs()
    with ocp.CheckpointManager(directory, options=options,
                               item_handlers=ocp.StandardCheckpointHandler()) as mgr:
        for step in (1, 2):
            # orbax stores arrays, not NumPy scalars (jaxsched's Checkpointer converts them)
            mgr.save(step, args=ocp.args.StandardSave({"x": x + step, "step": np.asarray(step)}))
        mgr.wait_until_finished()
        check("orbax steps", list(mgr.all_steps()) == [1, 2], mgr.all_steps())
        target = {"x": jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=run_sharded),
                  "step": np.asarray(0)}
        got = mgr.restore(2, args=ocp.args.StandardRestore(target))
    check("orbax restore sharding", got["x"].sharding == run_sharded, got["x"].sharding)
    for s in got["x"].addressable_shards:
        check("orbax restore data", np.array_equal(np.asarray(s.data), EXPECTED[s.index] + 2))
    step_dir = os.path.join(directory, "2", "default")
    facts["orbax_step_files"] = sorted(
        os.path.relpath(os.path.join(p, f), step_dir)
        for p, _, fs in os.walk(step_dir) for f in fs if "/d/" not in os.path.join(p, f))


@stage("jaxsched_checkpointer")
def _checkpointer():
    from jaxsched.train.checkpoint import Checkpointer

    directory = os.path.join(out_dir, "jaxsched")
    x = global_runs()
    target = {"x": x, "step": np.int64(0)}
    lines = []
    with Checkpointer(directory) as ck:
        for step in (1, 2, 3):
            ck.save(step, {"x": x + step, "step": np.int64(step)})
        check("checkpointer steps", ck.all_steps() == [2, 3], ck.all_steps())
        got = ck.restore_latest(target, log=lines.append)
        check("checkpointer restore", got is not None and got[0] == 3 and not lines, lines)
        for s in got[1]["x"].addressable_shards:
            check("checkpointer data", np.array_equal(np.asarray(s.data), EXPECTED[s.index] + 3))
        # Damage the last process's shard files of step 3: every process must fall back to 2.
        last = jax.process_count() - 1
        shard_files = glob.glob(f"{directory}/3/default/ocdbt.process_{last}/d/*")
        facts["shard_files_of_last_process"] = len(shard_files)
        multihost_utils.sync_global_devices("before damage")
        if jax.process_index() == 0:
            for f in shard_files:
                os.truncate(f, os.path.getsize(f) // 2)
        multihost_utils.sync_global_devices("damaged")
        got = ck.restore_latest(target, log=lines.append)
        check("checkpointer fallback", got is not None and got[0] == 2, got and got[0])
        check("one report", len(lines) == 1 and "moved to" in lines[0], lines)
        check("steps after fallback", ck.all_steps() == [2], ck.all_steps())
    for s in got[1]["x"].addressable_shards:
        check("fallback data", np.array_equal(np.asarray(s.data), EXPECTED[s.index] + 2))
    facts["fallback_report"] = lines[-1][:300] if lines else None


@stage("file_from_process_0")
def _one_writer():
    from jaxsched._io import atomic_write_json

    path = os.path.join(out_dir, "summary.json")
    whole = multihost_utils.process_allgather(global_runs(), tiled=True)
    if jax.process_index() == 0:
        atomic_write_json(path, {"sum": float(whole.sum())})
    multihost_utils.sync_global_devices("summary written")  # others read it only after this
    with open(path) as f:
        check("summary", json.load(f)["sum"] == float(EXPECTED.sum()))


facts["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
facts["checks_failed"] = failed
print(json.dumps(facts), flush=True)
jax.distributed.shutdown()

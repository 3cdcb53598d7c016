"""Start two_process_probe.py as a job of two JAX processes on this machine's CPU.

Usage: python launch_two_processes.py OUT_DIR [LOCAL_DEVICES]

Picks a free localhost port for the coordinator, starts process 0 and 1 with it, waits (and
kills both if one fails or they take too long) and prints each process's JSON line plus one
line of its own with the wall time. LOCAL_DEVICES (default 1) CPU devices per process come
from JAX_NUM_CPU_DEVICES. Also shows that the environment-variable recipe (JAX_NUM_PROCESSES,
JAX_PROCESS_ID) is not read by this JAX. Exit status 0 when both processes exited cleanly.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

PROBE = pathlib.Path(__file__).with_name("two_process_probe.py")
TIMEOUT = 300


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_var_recipe(port: int) -> str:
    """What ``jax.distributed.initialize()`` says to the README's environment variables."""
    env = {**os.environ, "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
           "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}
    run = subprocess.run(
        [sys.executable, "-c", "import jax; jax.distributed.initialize()"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    return (run.stderr.strip().splitlines() or ["(no error)"])[-1]


def main() -> int:
    out_dir = pathlib.Path(sys.argv[1])
    local_devices = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    print(json.dumps({"launcher": "env_var_recipe", "result": env_var_recipe(port)}), flush=True)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": str(local_devices)}
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(PROBE), f"127.0.0.1:{port}", "2", str(i), str(out_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for i in range(2)
    ]
    outputs = [None, None]
    try:
        deadline = time.monotonic() + TIMEOUT
        for i, p in enumerate(procs):
            outputs[i] = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if p.returncode != 0:
                break  # the other would wait for its peer until the coordination timeout
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.perf_counter() - start
    for i, p in enumerate(procs):
        out, err = outputs[i] or ("", "")
        sys.stdout.write(out)
        if p.returncode != 0:
            sys.stdout.write(f"process {i} exited {p.returncode}:\n{err[-3000:]}\n")
    print(json.dumps({"launcher": "wall_s", "local_devices": local_devices,
                      "wall_s": round(wall, 2)}), flush=True)
    return 0 if all(p.returncode == 0 for p in procs) else 1


if __name__ == "__main__":
    sys.exit(main())

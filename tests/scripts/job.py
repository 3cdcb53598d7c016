"""Run one ``jaxsched`` command as a job of N processes on this machine (CPU, localhost).

Usage: python job.py N jaxsched ARGS...   (the ``--coordinator``, ``--num-processes`` and
``--process-id`` flags are added, with a free port). Prints each process's stderr tail when one
fails; exits 0 when every process exited cleanly.
"""

import os
import socket
import subprocess
import sys

TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    n, command = int(sys.argv[1]), sys.argv[2:]
    assert command[0] == "jaxsched", command
    port = free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jaxsched.cli", *command[1:], "--coordinator",
             f"127.0.0.1:{port}", "--num-processes", str(n), "--process-id", str(i)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for i in range(n)
    ]
    failed = False
    for i, p in enumerate(procs):
        try:
            out, err = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != 0:
            failed = True
            print(f"process {i} exited {p.returncode}:\n{err[-3000:]}", file=sys.stderr)
            for q in procs:  # the others would wait for their peer until the job times out
                if q.poll() is None:
                    q.kill()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Writes that fail in the kernel: checkpoints, pytrees and atomic files on a full disk.

Usage: python full_disk.py DIR MODE, where MODE says how the writes after the first round fail:

* ``fill``: DIR is a small filesystem of its own (the test mounts a tmpfs); the script fills it
  up to a few KiB, so writes fail with ENOSPC, in tensorstore's C++ writer as in Python.
* ``fsize``: RLIMIT_FSIZE caps the size of any file this process writes, so a write past the
  cap fails with EFBIG (Python ignores SIGXFSZ). Needs no privileges; the failing write is
  the same ``write(2)`` a full disk fails.

First round (room enough): a checkpoint of step 800, a pytree and an atomic file. Second round
(no room): step 1000, a new pytree and a new file, each larger than the room left. Then room
is made again and everything is read back. Prints one JSON object with what happened.
"""

import errno
import json
import os
import pathlib
import resource
import sys

import numpy as np

from jaxsched._io import atomic_write_bytes
from jaxsched.train.checkpoint import Checkpointer, load_pytree, save_pytree

directory, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
small = {"w": rng.standard_normal(2000).astype(np.float32), "step": np.int64(800)}
big = {"w": rng.standard_normal(1 << 16).astype(np.float32), "step": np.int64(1000)}
target = {"w": np.zeros(2000, np.float32), "step": np.int64(0)}
big_target = {"w": np.zeros(1 << 16, np.float32), "step": np.int64(0)}
ck = Checkpointer(directory / "ck")
ck.save(800, small)
save_pytree(directory / "params", small)
atomic_write_bytes(directory / "file.bin", b"old")

filler = directory / "filler"
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
if mode == "fill":
    st = os.statvfs(directory)
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 16 * 1024))
elif mode == "fsize":
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
else:
    raise SystemExit(f"unknown mode {mode!r}")


def attempt(write):
    try:
        write()
    except OSError as e:
        return {"type": type(e).__name__, "errno": errno.errorcode.get(e.errno, e.errno),
                "filename": str(e.filename), "message": str(e)}
    except Exception as e:  # noqa: BLE001 - reported for the test to fail on
        return {"type": type(e).__name__, "message": str(e)[:500]}
    return None


out = {
    "save": attempt(lambda: ck.save(1000, big)),
    "steps_after_failure": ck.all_steps(),
    "latest_after_failure": ck.latest_step(),
    "save_pytree": attempt(lambda: save_pytree(directory / "params", big)),
    "atomic": attempt(lambda: atomic_write_bytes(directory / "file.bin", os.urandom(1 << 18))),
    "listing": sorted(os.listdir(directory / "ck")),
    "params_listing": sorted(os.listdir(directory / "params")),
    "dir_listing": sorted(p for p in os.listdir(directory) if p != filler.name),
}

# room again
if mode == "fill":
    filler.unlink()
else:
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
reopened = Checkpointer(directory / "ck")
out["steps_reopened"] = reopened.all_steps()
got = reopened.restore(target)
out["restored_800_exact"] = bool(
    np.array_equal(got["w"], small["w"]) and int(got["step"]) == 800
)
params = load_pytree(directory / "params", target=target)
out["params_old_exact"] = bool(np.array_equal(params["w"], small["w"]))
out["file_old"] = (directory / "file.bin").read_bytes().decode()
reopened.save(1000, big)
out["steps_after_retry"] = reopened.all_steps()
out["retry_exact"] = bool(np.array_equal(reopened.restore(big_target)["w"], big["w"]))
reopened.close()
ck.close()
print(json.dumps(out))

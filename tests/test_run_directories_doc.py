"""docs/run_directories.md: its orbax snippet reads a run written by the runner, with no
jaxsched importable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from test_metrics import regression_task

from jaxsched.train import checkpoint as ckpt
from jaxsched.train.config import RunConfig
from jaxsched.train.runner import Runner

DOC = Path(__file__).resolve().parents[1] / "docs" / "run_directories.md"
FENCE = re.compile(r"```python\n(.*?)```", re.S)


def _snippet() -> str:
    (block,) = [b for b in FENCE.findall(DOC.read_text()) if "orbax" in b]
    assert 'Path("OUT/runs/RUN_ID")' in block
    return block


_BLOCK_JAXSCHED = "import sys\nsys.modules['jaxsched'] = None  # no jaxsched to fall back on\n"
_CHECK = """
import json, numpy as np, jax
np.savez(sys.argv[1], *[np.asarray(x) for x in jax.tree.leaves(eval_params)])
print(json.dumps({"step": int(step), "keys": sorted(state),
                  "paths": sorted(jax.tree_util.keystr(p) for p, _ in
                                  jax.tree_util.tree_flatten_with_path(eval_params)[0])}))
"""


def test_the_orbax_snippet_restores_eval_params_without_jaxsched(tmp_path):
    cfg = RunConfig(steps=30, eval_every=10, optimizer="adam_ema", ema_decay=0.9, lr=0.05)
    (res,) = Runner(regression_task(), tmp_path / "out", chunk_size=10, checkpoint_every=10,
                    progress=False, log=lambda m: None).run([cfg])
    run = res.run_dir.path
    code = _snippet().replace("OUT/runs/RUN_ID", str(run))
    done = subprocess.run(
        [sys.executable, "-c", _BLOCK_JAXSCHED + code + _CHECK, str(tmp_path / "got.npz")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    # the newest sealed checkpoint (the last one, at step 30, is the run's end: not kept)
    assert out["step"] == 20 and out["keys"] == ["key", "opt_state", "params", "step"]
    assert out["paths"] == ["['dense']['b']", "['dense']['w']"]
    want = ckpt.load_pytree(res.run_dir.params_dir)  # what the runner evaluated at
    got = np.load(tmp_path / "got.npz")
    for i, leaf in enumerate(jax.tree.leaves(want)):
        np.testing.assert_array_equal(got[f"arr_{i}"], leaf)

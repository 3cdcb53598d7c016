"""Train the notes' flax TinyViT and ours in the same loop, on the same seeds; print JSON.

Run in a fresh process (the test suite's cheap-compile XLA flags slow training down): for each
model, seeds 0..SEEDS-1 are trained together in one GroupTrainer program at the notes' Adam
(lr 1e-3, constant) on the quick preset's synthetic set. A seed fixes the initial parameters
(the two modules have the same tree and initializers) and the batches; only the dropout masks
differ (flax's ``nn.Dropout`` bits against our counter hash). The control is our module with
dropout off. The statistic of a run is its mean loss over the last LAST steps.

Usage: python tests/scripts/fidelity.py [steps]
"""

import json
import os
import sys
import time

os.environ.pop("XLA_FLAGS", None)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxsched.chapter import alchemist  # noqa: E402
from jaxsched.train.config import RunConfig  # noqa: E402
from jaxsched.train.loop import GroupTrainer  # noqa: E402
from jaxsched.workloads.image import SIZES, image_classification_task  # noqa: E402
from jaxsched.workloads.notes_model import NotesTinyViT  # noqa: E402
from jaxsched.workloads.standin import synthetic  # noqa: E402
from jaxsched.workloads.tinyvit import TinyViT  # noqa: E402

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 400
SEEDS, LAST, N_TRAIN = 4, 50, 2048
PRESET = alchemist.preset("tinyvit", "quick")
WORKLOAD = SIZES["quick"]
ARCH = dict(features=WORKLOAD.model.features, num_blocks=WORKLOAD.model.num_blocks,
            num_heads=WORKLOAD.model.num_heads)

data = synthetic(N_TRAIN, 0, 0, **WORKLOAD.difficulty._asdict())
cfg = RunConfig(optimizer="adam", schedule="constant", lr=PRESET.lr, steps=STEPS)
hp = {k: jnp.full((SEEDS,), v, jnp.float32) for k, v in cfg.hparams().items()}
table = np.tile(cfg.lr_table()[None], (SEEDS, 1))

models = {
    "notes": NotesTinyViT(**ARCH),
    "ours": TinyViT(**ARCH),
    "control_no_dropout": TinyViT(**ARCH, dropout=0.0),
}
out = {"steps": STEPS, "seeds": SEEDS, "last": LAST, "n_train": N_TRAIN,
       "batch_size": WORKLOAD.batch_size, "arch": ARCH}
for name, model in models.items():
    t = time.perf_counter()
    task = image_classification_task(model, jnp.asarray(data.train_images),
                                     jnp.asarray(data.train_labels),
                                     batch_size=WORKLOAD.batch_size)
    trainer = GroupTrainer(task, cfg.make_optimizer, chunk_size=STEPS)
    state = trainer.init(np.arange(SEEDS, dtype=np.int32), hp)
    _, losses = trainer.train(state, table, hp, STEPS)
    losses = np.asarray(losses, np.float64)
    out[name] = {"final": losses[:, -LAST:].mean(axis=1).tolist(),
                 "first_100": losses[:, :100].mean(axis=1).tolist(),
                 "seconds": round(time.perf_counter() - t, 1)}
print(json.dumps(out))

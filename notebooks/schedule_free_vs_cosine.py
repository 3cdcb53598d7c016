# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %%

# %% [markdown]
# # Schedule-free vs tuned cosine, linear and WSD on your own problem
#
# Cosine decay needs the length of training in advance: a run tuned for 1,000 steps is not a
# good 500-step run, nor can it be extended to 2,000. Schedule-free AdamW (Defazio et al.,
# 2024) runs at a constant learning rate and evaluates an *average* of its iterates
# (`jaxsched.optim.eval_params`), so one run can be stopped at any step. The claim to test is
# Pareto dominance: **the single schedule-free run is at or below the scheduled baseline tuned
# for each horizon, at every horizon.**
#
# `jaxsched.compare.run` is that experiment. You give it a `Task` — four pure JAX functions:
# `init(key) -> params`, `loss(params, batch, key) -> scalar`, `sample(key) -> batch`, and
# optionally `evaluate(params) -> {"loss": ...}` — and a grid. It then
#
# 1. tunes every scheduled candidate (cosine, linear, WSD) **per horizon** over the
#    learning-rate grid, one run per (lr, horizon, seed);
# 2. trains every anytime candidate (constant, schedule-free, EMA averaging) **once** per
#    (lr, seed) to the longest horizon and evaluates it at every horizon, at `eval_params`;
# 3. branches WSD's cooldowns from the shared constant phase (exactly the separate runs);
# 4. trains all runs of one optimizer structure in one compiled, vmapped program (batches
#    drawn on device, resumable), and writes `results.csv`, `REPORT.md` and two figures.
#
# Here the task is a small curve fit in pure JAX that runs in seconds on a CPU; replace it
# with yours. Set `SMALL = False` for a longer, multi-seed grid.

# %%
SMALL = True  # True: a minute on a CPU, one seed; False: longer horizons, 3 seeds

# %%
# %matplotlib inline
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from IPython.display import Image, Markdown, display
from matplotlib.figure import Figure

from jaxsched import compare

if SMALL:
    HORIZONS, LRS, SEEDS, EVAL_EVERY = (100, 200, 400), (3e-3, 1e-2, 3e-2), 1, 50
else:
    HORIZONS, LRS, SEEDS, EVAL_EVERY = (500, 1000, 2000, 4000), (1e-3, 3e-3, 1e-2, 3e-2), 3, 250
print(f"horizons {HORIZONS}, learning rates {LRS}, {SEEDS} seed(s), devices {jax.devices()}")

# %% [markdown]
# ## Your task
#
# A 1-D curve fit: $y = \sin(2x) + 0.3x$ plus Gaussian noise of std 0.3, learnt by a
# 1-64-64-1 tanh MLP from minibatches of 16. The test loss (mean squared error on held-out
# points) cannot go below the noise variance 0.09. Minibatch noise is what makes the
# learning-rate schedule matter. `sample` draws a minibatch from the training set on device;
# `evaluate` is the held-out MSE. (`jaxsched compare --task regression` is a built-in
# teacher-student problem of the same kind.)

# %%
NOISE, BATCH = 0.3, 16
k_data, k_test = jax.random.split(jax.random.key(0))


def make_data(key, n):
    kx, kn = jax.random.split(key)
    x = jax.random.uniform(kx, (n, 1), minval=-3.0, maxval=3.0)
    return x, jnp.sin(2 * x[:, 0]) + 0.3 * x[:, 0] + NOISE * jax.random.normal(kn, (n,))


(x_train, y_train), (x_test, y_test) = make_data(k_data, 8192), make_data(k_test, 1024)
WIDTHS = (1, 64, 64, 1)


def init(key):
    keys = jax.random.split(key, len(WIDTHS) - 1)
    return [(jax.random.normal(k, (m, n)) * np.sqrt(1.0 / m), jnp.zeros(n))
            for k, m, n in zip(keys, WIDTHS[:-1], WIDTHS[1:], strict=True)]


def predict(params, x):
    *hidden, (w_out, b_out) = params
    for w, b in hidden:
        x = jnp.tanh(x @ w + b)
    return (x @ w_out + b_out)[:, 0]


def sample(key):
    idx = jax.random.randint(key, (BATCH,), 0, x_train.shape[0])
    return x_train[idx], y_train[idx]


task = compare.Task(
    init=init,
    loss=lambda params, batch, key: jnp.mean((predict(params, batch[0]) - batch[1]) ** 2),
    sample=sample,  # the loss ignores its key: no dropout here
    evaluate=lambda params: {"loss": jnp.mean((predict(params, x_test) - y_test) ** 2)},
)
print(f"noise floor (label noise variance): {NOISE ** 2:.3f}; "
      f"test loss of predicting 0: {float(jnp.mean(y_test ** 2)):.3f}")

# %% [markdown]
# ## The comparison
#
# Every built-in candidate: `cosine`, `linear` and `wsd` (AdamW with each schedule, tuned per
# horizon), `constant` (AdamW at a constant rate), `sf_adamw` (Schedule-Free AdamW), the
# notes' `sf_adam_ema`, and `adam_ema` (AdamW with an EMA of the iterates). A custom candidate
# is a `(name, factory)` pair with `factory(lr, horizon) -> optax transformation`.

# %%
out = tempfile.mkdtemp(prefix="compare-")
res = compare.run(task, candidates=list(compare.BUILTIN), lrs=LRS, horizons=HORIZONS,
                  seeds=SEEDS, eval_every=EVAL_EVERY, out=out)
t = res.timing
print(f"{t['run_steps']} run-steps in {t['seconds']:.1f} s (compiles included); WSD trained "
      f"{res.branching['trained_steps']} run-steps instead of {res.branching['unbranched_steps']}")

# %% [markdown]
# `res.envelope()` is the best learning rate per (candidate, horizon), mean ± std over seeds;
# `res.rows` holds every evaluation (also in `out/results.csv`). `REPORT.md` gives the tuned
# losses and each anytime candidate's gap to each scheduled envelope, with a verdict.

# %%
display(Markdown(open(f"{out}/REPORT.md").read().split("## Figures")[0]))

# %% [markdown]
# ### The Pareto plot and the learning-rate sensitivity
#
# Loss at each horizon: the scheduled envelopes (solid) and the anytime candidates (dashed; the
# dotted line is the single run of the learning rate that is best at the longest horizon). A
# schedule-free run is Pareto-dominant when its curve passes at or under every envelope. The
# sensitivity plot shows whether the grid brackets each candidate's optimum (if the best value
# sits at the edge of the grid, widen it).

# %%
display(Image(filename=f"{out}/figures/pareto.png"))
display(Image(filename=f"{out}/figures/lr_sensitivity.png"))

# %% [markdown]
# ### Along training
#
# The rows hold every evaluation, so curves are one filter away: the tuned cosine run of each
# horizon against the schedule-free run at its best learning rate for the longest horizon.

# %%
env = {(e["candidate"], e["horizon"]): e for e in res.envelope()}
fig = Figure(figsize=(6, 3.4), layout="constrained")
ax = fig.subplots()
for j, h in enumerate(HORIZONS):
    lr = env[("cosine", h)]["lr"]
    pts = sorted((r["step"], r["loss"]) for r in res.rows
                 if (r["candidate"], r["lr"], r["horizon"], r["seed"]) == ("cosine", lr, h, 0))
    ax.plot(*zip(*pts, strict=True), color="C3", label="cosine, tuned per horizon" if j == 0 else None)
lr = env[("sf_adamw", max(HORIZONS))]["lr"]
pts = sorted((r["step"], r["loss"]) for r in res.rows
             if (r["candidate"], r["lr"], r["horizon"], r["seed"]) == ("sf_adamw", lr, max(HORIZONS), 0))
ax.plot(*zip(*pts, strict=True), color="black", label=f"schedule-free (lr {lr:g})")
ax.axhline(NOISE ** 2, ls=":", color="grey", lw=1, label="noise floor")
ax.set(xlabel="step", ylabel="test loss (MSE)", title="seed 0 along training")
ax.legend(fontsize=8)
display(fig)

# %% [markdown]
# ## Using it on your problem
#
# * Write `init`, `loss`, `sample` (and `evaluate` on a held-out set) for your model; keep them
#   pure JAX, with the data captured as device arrays: the loop vmaps them over runs.
# * Evaluate and checkpoint `optim.eval_params(state, params)`, never the raw parameters of a
#   schedule-free or averaging optimizer: those are the noisy iterate $y$ (the comparison
#   already does).
# * Select on a validation set and report on a test set on a real problem; here the held-out set
#   plays both parts.
# * `jaxsched compare --task tinyvit --preset quick --seeds 3 --out DIR` runs the same experiment
#   on the notes' TinyViT.

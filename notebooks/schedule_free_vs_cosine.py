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

# %% [markdown]
# # Schedule-free vs cosine decay on your own problem
#
# Cosine decay needs the length of training in advance: the learning rate reaches zero at the
# horizon, and a run tuned for 1,000 steps is not a good 500-step run, nor can it be extended
# to 2,000. Schedule-free AdamW (Defazio et al., 2024) runs at a constant learning rate and
# evaluates an *average* of its iterates (`jaxsched.optim.eval_params`), so one run can be
# stopped at any step. The claim to test is Pareto dominance: **the single schedule-free run is
# at or below the cosine run tuned for each horizon, at every horizon.**
#
# This notebook is a template for checking that claim on your own model. It uses a small
# teacher-student regression problem in pure JAX that runs in seconds on a CPU; replace
# `init_params`, `loss_fn` and the data with yours. The method:
#
# 1. pick a few horizons and a small learning-rate grid;
# 2. train **all** cosine runs (every learning rate x every horizon, plus a constant-rate
#    baseline) in **one** compiled, vmapped program: the schedules become a table of learning
#    rates, one row per run, and `vmap` runs over the rows;
# 3. train schedule-free AdamW at each learning rate (a second vmapped program), once, to the
#    longest horizon, evaluating at `eval_params` along the way;
# 4. compare the tuned cosine loss at each horizon with the schedule-free curve at that step.
#
# Set `SMALL = False` for a longer, multi-seed sweep.

# %%
SMALL = True  # True: a few seconds, one seed; False: longer horizons, 3 seeds (a minute or two)

# %%
# %matplotlib inline
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from jaxsched import optim, schedules

if SMALL:
    HORIZONS = (125, 250, 500, 1000)
    LRS = (1e-3, 3e-3, 1e-2, 3e-2)
    SEEDS = 1
    EVAL_EVERY = 25
else:
    HORIZONS = (500, 1000, 2000, 4000, 8000)
    LRS = (1e-3, 3e-3, 1e-2, 3e-2)
    SEEDS = 3
    EVAL_EVERY = 100
WARMUP = HORIZONS[0] // 10  # the same linear warmup for every run
WEIGHT_DECAY = 0.0
BATCH = 32
T_MAX = max(HORIZONS)
assert all(h % EVAL_EVERY == 0 for h in HORIZONS)
print(f"horizons {HORIZONS}, learning rates {LRS}, {SEEDS} seed(s), devices {jax.devices()}")

# %% [markdown]
# ## The problem
#
# A random "teacher" network labels Gaussian inputs, with label noise; a wider "student" MLP
# learns it from minibatches. The test loss (mean squared error on held-out data) cannot go
# below the noise variance. Minibatch noise is what makes the learning-rate schedule matter:
# at a constant rate, the iterates keep bouncing around the minimum.

# %%
D_IN, D_TEACHER, D_HIDDEN = 16, 32, 64
N_TRAIN, N_TEST, NOISE = 16384, 1024, 0.5

k_teacher, k_train, k_test, k_noise = jax.random.split(jax.random.key(0), 4)
teacher = jax.random.normal(k_teacher, (D_IN, D_TEACHER)) / np.sqrt(D_IN)
readout = jax.random.normal(jax.random.fold_in(k_teacher, 1), (D_TEACHER,)) / np.sqrt(D_TEACHER)


def label(x):
    return jnp.sin(1.5 * x @ teacher) @ readout


x_train = jax.random.normal(k_train, (N_TRAIN, D_IN))
y_train = label(x_train) + NOISE * jax.random.normal(k_noise, (N_TRAIN,))
x_test = jax.random.normal(k_test, (N_TEST, D_IN))
y_test = label(x_test) + NOISE * jax.random.normal(jax.random.fold_in(k_noise, 1), (N_TEST,))


def init_params(key):
    k1, k2, k3 = jax.random.split(key, 3)
    dense = lambda k, m, n: {"w": jax.random.normal(k, (m, n)) / np.sqrt(m), "b": jnp.zeros(n)}
    return [dense(k1, D_IN, D_HIDDEN), dense(k2, D_HIDDEN, D_HIDDEN), dense(k3, D_HIDDEN, 1)]


def loss_fn(params, x, y):
    for layer in params[:-1]:
        x = jax.nn.gelu(x @ layer["w"] + layer["b"])
    pred = (x @ params[-1]["w"] + params[-1]["b"])[:, 0]
    return jnp.mean((pred - y) ** 2)


print(f"noise floor (label noise variance): {NOISE ** 2:.3f}; "
      f"test loss of predicting 0: {float(jnp.mean(y_test ** 2)):.3f}")

# %% [markdown]
# ## One training function for every run
#
# `train(make_optimizer, hparams, seed)` trains for `T_MAX` steps with `lax.scan` and returns
# the test loss at the evaluation parameters every `EVAL_EVERY` steps. The evaluation
# parameters are `optim.eval_params(state, params)`: the schedule-free average $x$ for
# schedule-free AdamW, and the parameters themselves for plain AdamW. Minibatches are drawn
# from the seed alone, so runs with the same seed see the same data in the same order, which
# makes the comparison paired. `sweep` vmaps it over a batch of hyperparameters and seeds and
# compiles the whole sweep as one program.

# %%
def train(make_optimizer, hparams, seed):
    opt = make_optimizer(hparams)
    params = init_params(jax.random.fold_in(jax.random.key(1), seed))
    keys = jax.random.split(jax.random.fold_in(jax.random.key(2), seed), T_MAX)

    def step(carry, key):
        params, state = carry
        idx = jax.random.randint(key, (BATCH,), 0, N_TRAIN)
        grads = jax.grad(loss_fn)(params, x_train[idx], y_train[idx])
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    def chunk(carry, keys):
        carry, _ = jax.lax.scan(step, carry, keys)
        params, state = carry
        return carry, loss_fn(optim.eval_params(state, params), x_test, y_test)

    _, curve = jax.lax.scan(chunk, (params, opt.init(params)),
                            keys.reshape(T_MAX // EVAL_EVERY, EVAL_EVERY))
    return curve


def sweep(make_optimizer, hparams):
    """Test-loss curves [runs, seeds, T_MAX // EVAL_EVERY] of every run, in one program."""
    per_seed = jax.vmap(lambda h, s: train(make_optimizer, h, s), in_axes=(None, 0))
    program = jax.jit(jax.vmap(per_seed, in_axes=(0, None)))
    start = time.perf_counter()
    curves = np.asarray(program(hparams, jnp.arange(SEEDS)))
    n = curves.shape[0] * SEEDS
    print(f"{n} runs x {T_MAX} steps in {time.perf_counter() - start:.1f} s (compile included)")
    return curves


eval_steps = EVAL_EVERY * np.arange(1, T_MAX // EVAL_EVERY + 1)
at = {h: h // EVAL_EVERY - 1 for h in HORIZONS}  # index of step h in a curve

# %% [markdown]
# ## The cosine sweep: a table of learning rates, one row per run
#
# `schedules.cosine_decay` accepts its `decay_steps` as a JAX array, so one `vmap` builds the
# whole grid of schedules, (learning rate x horizon), as a `[runs, T_MAX]` table; constant-rate
# rows (after the same warmup) are added as the baseline. The optimizer reads its learning rate
# from its row, so every run of the table trains in the same compiled program. A run keeps
# training past its horizon at learning rate zero, which leaves its parameters where they were
# at the horizon (wasted steps, but a fixed-shape program).

# %%
grid = [(lr, h) for lr in LRS for h in HORIZONS]
peaks = jnp.array([lr for lr, _ in grid])
decay_steps = jnp.array([h - WARMUP for _, h in grid])
t = jnp.arange(T_MAX)
cosine_tables = jax.vmap(
    lambda peak, d: schedules.warmup(schedules.cosine_decay(peak, decay_steps=d), WARMUP)(t)
)(peaks, decay_steps)
constant_tables = jax.vmap(
    lambda peak: schedules.warmup(schedules.constant(peak), WARMUP)(t)
)(jnp.array(LRS))
tables = jnp.concatenate([cosine_tables, constant_tables])
print("learning-rate table:", tables.shape)

fig = Figure(figsize=(6, 2.8), layout="constrained")
ax = fig.subplots()
for h in HORIZONS:
    ax.plot(t, cosine_tables[grid.index((LRS[-1], h))], color="C3")
ax.plot(t, constant_tables[-1], color="grey")
ax.set(xlabel="step", ylabel="learning rate", title=f"rows of the table at lr {LRS[-1]:g}")
display(fig)


# %%
def adamw_from_table(row):
    return optax.adamw(lambda count: row[count], weight_decay=WEIGHT_DECAY)


table_curves = sweep(adamw_from_table, tables)  # [len(grid) + len(LRS), SEEDS, evals]
cosine_curves = table_curves[: len(grid)].reshape(len(LRS), len(HORIZONS), SEEDS, -1)
constant_curves = table_curves[len(grid):]

# %% [markdown]
# ## The schedule-free sweep
#
# `schedule_free_adamw` with a constant learning rate, vmapped over the learning rates. It
# trains once to the longest horizon; its loss "at horizon $h$" is its curve at step $h$.

# %%
def schedule_free(lr):
    return optim.schedule_free_adamw(lr, warmup_steps=WARMUP, weight_decay=WEIGHT_DECAY)


sf_curves = sweep(schedule_free, jnp.array(LRS))  # [len(LRS), SEEDS, evals]

# %% [markdown]
# ## The comparison
#
# Cosine gets the benefit of the doubt: at each horizon it uses the learning rate that is best
# *for that horizon*. Schedule-free gets one learning rate, the best at the longest horizon, and
# one run. (On a real problem, select on a validation set and report on a test set; here the
# held-out set plays both parts.) Losses are averaged over seeds.

# %%
cos_mean = cosine_curves.mean(axis=2)  # [lr, horizon, evals]
cos_best_lr = [int(np.argmin(cos_mean[:, j, at[h]])) for j, h in enumerate(HORIZONS)]
cos_final = np.array([cos_mean[i, j, at[h]] for j, (h, i) in enumerate(zip(HORIZONS, cos_best_lr, strict=True))])
sf_mean = sf_curves.mean(axis=1)  # [lr, evals]
sf_lr = int(np.argmin(sf_mean[:, -1]))
sf_at = np.array([sf_mean[sf_lr, at[h]] for h in HORIZONS])
const_mean = constant_curves.mean(axis=1)
const_lr = int(np.argmin(const_mean[:, -1]))
const_at = np.array([const_mean[const_lr, at[h]] for h in HORIZONS])

rows = ["| horizon | cosine (best lr for this horizon) | schedule-free (one run) | constant lr | schedule-free at or below cosine |",
        "|---|---|---|---|---|"]
for j, h in enumerate(HORIZONS):
    rows.append(f"| {h} | {cos_final[j]:.4f} (lr {LRS[cos_best_lr[j]]:g}) | {sf_at[j]:.4f} "
                f"| {const_at[j]:.4f} | {'yes' if sf_at[j] <= cos_final[j] else 'no'} |")
display(Markdown("\n".join(rows) + f"\n\nschedule-free lr {LRS[sf_lr]:g}, constant lr "
                 f"{LRS[const_lr]:g}, noise floor {NOISE ** 2:.3f}"))

# %% [markdown]
# ### The Pareto plot
#
# Left: the test-loss curves, drawn like the notes' Pareto figure: the constant-rate run in
# grey, the tuned cosine run of each horizon in red (each ends at its horizon), the one
# schedule-free run in black. Right: the same numbers as a frontier, loss against horizon. The
# schedule-free run is Pareto-dominant when the black curve passes at or under the end of
# every red one.

# %%
fig = Figure(figsize=(12, 3.6), layout="constrained")
ax_curves, ax_front = fig.subplots(1, 2)
ax_curves.plot(eval_steps, const_mean[const_lr], color="grey", label=f"constant (lr {LRS[const_lr]:g})")
for j, h in enumerate(HORIZONS):
    n = at[h] + 1
    ax_curves.plot(eval_steps[:n], cos_mean[cos_best_lr[j], j, :n], color="C3",
                   label="cosine, tuned per horizon" if j == 0 else None)
    ax_curves.plot(h, cos_final[j], "o", color="C3")
ax_curves.plot(eval_steps, sf_mean[sf_lr], color="black", label=f"schedule-free (lr {LRS[sf_lr]:g})")
ax_curves.axhline(NOISE ** 2, ls=":", color="grey", lw=1)
top = max(const_mean[const_lr][len(eval_steps) // 10:].max(), cos_final.max()) * 1.3
ax_curves.set(xlabel="step", ylabel="test loss (MSE)", ylim=(0.9 * NOISE ** 2, top),
              title="test loss along training")
ax_curves.legend(fontsize=8)

ax_front.plot(HORIZONS, cos_final, "o-", color="C3", label="cosine, tuned per horizon")
ax_front.plot(HORIZONS, sf_at, "s-", color="black", label="schedule-free, one run")
ax_front.plot(HORIZONS, const_at, "^--", color="grey", label="constant, one run")
ax_front.axhline(NOISE ** 2, ls=":", color="grey", lw=1, label="noise floor")
ax_front.set_xscale("log")
ax_front.minorticks_off()
ax_front.set_xticks(HORIZONS, [str(h) for h in HORIZONS])
ax_front.set(xlabel="horizon (steps)", ylabel="test loss at the horizon", title="loss vs horizon")
ax_front.legend(fontsize=8)
display(fig)

# %% [markdown]
# ### Learning-rate sensitivity
#
# A benchmark that tunes one method more carefully than the other is not a benchmark. The loss
# at the longest horizon against the learning rate shows whether the grid brackets each
# method's optimum (if the best value sits at the edge of the grid, widen it). Schedule-free
# methods often want a somewhat higher learning rate than cosine decay.

# %%
fig = Figure(figsize=(5, 3.2), layout="constrained")
ax = fig.subplots()
ax.plot(LRS, cos_mean[:, -1, at[T_MAX]], "o-", color="C3", label=f"cosine, horizon {T_MAX}")
ax.plot(LRS, sf_mean[:, -1], "s-", color="black", label="schedule-free")
ax.plot(LRS, const_mean[:, -1], "^--", color="grey", label="constant")
ax.set_xscale("log")
ax.set(xlabel="learning rate", ylabel=f"test loss at step {T_MAX}")
ax.legend(fontsize=8)
display(fig)

# %% [markdown]
# ## Using it on your problem
#
# * Replace `init_params`, `loss_fn` and the data; keep `train` and `sweep`. Everything that
#   differs between runs of one sweep must be an array (a table row, a learning rate, a seed)
#   so `vmap` can batch it; runs with a different optimizer *structure* go into a second sweep.
# * The table trick works for any schedule: build rows with any `jaxsched.schedules` function
#   (or a `compat.torch` twin) under `vmap` and feed them with `lambda count: row[count]`.
# * Evaluate and checkpoint `optim.eval_params(state, params)`, never the raw parameters of a
#   schedule-free or averaging optimizer: those are the noisy iterate $y$.
# * For a model that does not fit many times in memory, use fewer runs per sweep, or see
#   `jaxsched.train`, which shards runs and data over devices.

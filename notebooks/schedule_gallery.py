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
# # A gallery of learning-rate schedules
#
# Every schedule of `jaxsched.schedules`, with its formula, plotted over a few hundred steps;
# then the `torch.optim.lr_scheduler` and SambaFlow twins of `jaxsched.compat` beside the
# native schedules they correspond to.
#
# A schedule is a pure function `step -> learning rate`. It takes a Python int or an integer
# array of any shape (also traced, under `jit`, `vmap` or `lax.scan`) and returns float32, so
# it can be handed to any optax optimizer as its `learning_rate`. Throughout, $t$ is the
# 0-based step (optax's update count), $\eta$ the peak learning rate and $T$ a horizon.
#
# The figures come from `jaxsched.plot.plot_schedules`, which evaluates every schedule on
# `0 .. steps-1` in one jitted call; `jaxsched plot SPEC... --out lr.png` draws the same from
# the command line.

# %%
# %matplotlib inline
import jax
import jax.numpy as jnp
import numpy as np
from IPython.display import display
from matplotlib.figure import Figure

from jaxsched import plot
from jaxsched import schedules as S
from jaxsched.compat import sambaflow
from jaxsched.compat import torch as tc

PEAK = 0.1
STEPS = 200


def show(curves: dict, steps: int = STEPS, **kwargs) -> Figure:
    """Draw ``{label: schedule}`` on one axis."""
    return plot.plot_schedules(list(curves.items()), steps, **kwargs)


# %% [markdown]
# ## Every kind at a glance
#
# Each constructor in the registry `jaxsched.schedules.KINDS` (the names the CLI's
# `jaxsched plot` and the trainer's `--schedule` accept), built from the example registered
# with it, its peak and horizon filled in: a kind added to the registry shows up here by itself.

# %%
EXAMPLES = {name: S.registry.example(name, peak=PEAK, horizon=STEPS) for name in S.KINDS}
print(", ".join(f"{name}:{kind.example}" if kind.example else name
                for name, kind in S.KINDS.items()))

steps = jnp.arange(STEPS)
ncols = 4
nrows = -(-len(EXAMPLES) // ncols)
fig = Figure(figsize=(3.2 * ncols, 2.1 * nrows), layout="constrained")
for ax, (name, schedule) in zip(fig.subplots(nrows, ncols).flat, EXAMPLES.items(), strict=False):
    ax.plot(steps, jax.jit(schedule)(steps))
    ax.set_title(name, fontsize=10)
    ax.set_ylim(-0.005, 1.1 * PEAK)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
for ax in fig.axes[len(EXAMPLES):]:
    ax.set_axis_off()
display(fig)

# %% [markdown]
# ## Decays to a horizon
#
# The workhorses. Each goes from $\eta$ at $t = 0$ to an end value $\eta_{end}$ (default 0) at
# $t = D$ and holds it after:
#
# | schedule | $\text{lr}(t)$ for $t \le D$ |
# |---|---|
# | `constant(value)` | $\eta$ |
# | `linear_decay(peak, decay_steps, end_value)` | $(\eta - \eta_{end})(1 - t/D) + \eta_{end}$ |
# | `cosine_decay(peak, decay_steps, end_value, exponent)` | $(\eta - \eta_{end})\,\big[\tfrac12(1 + \cos \pi t/D)\big]^{p} + \eta_{end}$ |
# | `polynomial_decay(peak, decay_steps, end_value, power)` | $(\eta - \eta_{end})(1 - t/D)^{p} + \eta_{end}$ |
#
# The notes' chapter finds that *that* the rate decays matters much more than the shape.

# %%
show({
    "constant": S.constant(PEAK),
    "linear_decay": S.linear_decay(PEAK, 150),
    "cosine_decay": S.cosine_decay(PEAK, 150),
    "cosine_decay, end_value=0.02": S.cosine_decay(PEAK, 150, end_value=0.02),
    "cosine_decay, exponent=2": S.cosine_decay(PEAK, 150, exponent=2.0),
    "polynomial_decay, power=0.5": S.polynomial_decay(PEAK, 150, power=0.5),
    "polynomial_decay, power=2": S.polynomial_decay(PEAK, 150, power=2.0),
}, title="decays over D = 150 steps")

# %% [markdown]
# ## Step schedules
#
# * `stepwise_drop(peak, total_steps, fraction, factor=0.1)`, the notes' drop:
#   $\text{lr}(t) = \eta \cdot (\text{factor if } t/T > \text{fraction else } 1)$;
# * `step_decay(peak, step_size, gamma)`: $\eta\,\gamma^{\lfloor t / s \rfloor}$ (torch's `StepLR`);
# * `multistep(peak, milestones, gamma)`: $\eta\,\gamma^{\#\{m \,:\, t \ge m\}}$ (torch's `MultiStepLR`);
# * `piecewise_constant(init_value, {boundary: scale})`: $\eta \prod_{b \le t} \text{scale}_b$
#   (optax's `piecewise_constant_schedule`; scales may exceed 1).

# %%
show({
    "stepwise_drop at 25%": S.stepwise_drop(PEAK, STEPS, fraction=0.25),
    "stepwise_drop at 75%": S.stepwise_drop(PEAK, STEPS, fraction=0.75),
    "step_decay(step_size=50, gamma=0.5)": S.step_decay(PEAK, 50, gamma=0.5),
    "multistep([100, 150], gamma=0.3)": S.multistep(PEAK, [100, 150], gamma=0.3),
    "piecewise_constant({60: 0.5, 120: 1.5})": S.piecewise_constant(PEAK, {60: 0.5, 120: 1.5}),
}, title="step schedules")

# %% [markdown]
# ## Exponential, inverse-square-root and inverse-time decays
#
# No horizon: these decay forever, so they are drawn on a log axis.
#
# * `exponential_decay(peak, decay_rate, transition_steps=S, transition_begin=B, staircase)`:
#   $\eta\,r^{(t-B)/S}$ (the exponent floored with `staircase=True`; `end_value` bounds it);
# * `natural_exp_decay(peak, decay_rate=k, ...)`: $\eta\,e^{-k (t-B)/S}$;
# * `inverse_sqrt(peak, timescale=\tau)`: $\eta / \sqrt{1 + t/\tau}$;
# * `inverse_time(peak, decay_rate=k, decay_steps=S)`: $\eta / (1 + k\,t/S)$.

# %%
show({
    "exponential_decay(0.5 per 40 steps)": S.exponential_decay(PEAK, 0.5, transition_steps=40),
    "... staircase": S.exponential_decay(PEAK, 0.5, transition_steps=40, staircase=True),
    "... end_value=0.01": S.exponential_decay(PEAK, 0.5, transition_steps=40, end_value=0.01),
    "natural_exp_decay(k=0.02)": S.natural_exp_decay(PEAK, 0.02),
    "inverse_sqrt(timescale=10)": S.inverse_sqrt(PEAK, timescale=10),
    "inverse_time(k=1, every 20)": S.inverse_time(PEAK, 1.0, decay_steps=20),
}, log=True, title="decays without a horizon (log axis)")

# %% [markdown]
# ## Warmup
#
# `warmup(schedule, warmup_steps=W, init_value, shape, offset)` puts a ramp from `init_value`
# in front of *any* schedule. The ramp is $r(x) = x$ (`shape="linear"`) or
# $\tfrac12(1 - \cos \pi x)$ (`"cosine"`), $x = t/W$. With `offset=True` (default) the wrapped
# schedule starts its own clock after the ramp, $\text{lr}(t) = \text{schedule}(t - W)$, so its
# whole shape is kept; with `offset=False` the ramp replaces its first $W$ steps and its horizon
# is unchanged.
#
# `warmup_linear_decay` and `warmup_cosine_decay(peak, warmup_steps, total_steps, ...)` are the
# common fixed combinations, whose `total_steps` includes the warmup (optax's
# `warmup_cosine_decay_schedule`).

# %%
cosine = S.cosine_decay(PEAK, 150)
show({
    "warmup(cosine, 40)": S.warmup(cosine, 40),
    "warmup(cosine, 40, shape='cosine')": S.warmup(cosine, 40, shape="cosine"),
    "warmup(cosine, 40, offset=False)": S.warmup(cosine, 40, offset=False),
    "warmup(inverse_sqrt, 20)  (Transformer)": S.warmup(S.inverse_sqrt(PEAK, 20.0), 20),
}, title="warmup(schedule, ...); the two cosine ramps coincide after step 40")

# %%
show({
    "warmup_linear_decay(W=40, T=190)": S.warmup_linear_decay(PEAK, 40, 190),
    "warmup_cosine_decay(W=40, T=190)": S.warmup_cosine_decay(PEAK, 40, 190),
    "warmup_cosine_decay(W=40, T=190, init=0.02, end=0.01)": S.warmup_cosine_decay(
        PEAK, 40, 190, init_value=0.02, end_value=0.01),
}, title="warmup + decay over a total of 190 steps")

# %% [markdown]
# ## Warmup-stable-decay (WSD)
#
# `warmup_stable_decay(peak, total_steps=T, warmup_steps=W, cooldown_steps=C, cooldown)`: ramp
# up for $W$ steps, hold $\eta$, and cool down over the last $C$ steps, from $S = T - C$:
# $\text{lr}(t) = \eta_{end} + (\eta - \eta_{end})\,g\big((t - S)/C\big)$ with
# $g(x) = 1 - x$ (`"linear"`), $\tfrac12(1 + \cos \pi x)$ (`"cosine"`) or $1 - \sqrt{x}$
# (`"1-sqrt"`). Because the long stable phase does not depend on $T$, one run can be branched
# into cooldowns at several horizons, the "stepwise at 75%" lesson of the notes made smooth.

# %%
show({
    f"WSD, {c} cooldown": S.warmup_stable_decay(PEAK, STEPS, warmup_steps=20, cooldown_steps=60,
                                                cooldown=c)
    for c in ("linear", "cosine", "1-sqrt")
} | {"WSD, cooldown from 50%": S.warmup_stable_decay(PEAK, STEPS, 20, cooldown_steps=100)},
    title="warmup-stable-decay")

# %% [markdown]
# ## Warm restarts (SGDR)
#
# `cosine_restarts(peak, period=P, period_mult=m, peak_decay=d, end_value, max_cycles)`: cycle
# $i$ lasts $T_i = P\,m^i$ steps; inside it, at the fraction $x$ of the cycle,
# $\text{lr} = \eta_{end} + (\eta - \eta_{end})\,d^{\,i}\,\tfrac12(1 + \cos \pi x)$.
# After `max_cycles` cycles the rate holds at `end_value`.

# %%
show({
    "period 50": S.cosine_restarts(PEAK, 50),
    "period 25, period_mult 2": S.cosine_restarts(PEAK, 25, period_mult=2.0),
    "period 40, peak_decay 0.6, end 0.01": S.cosine_restarts(PEAK, 40, peak_decay=0.6, end_value=0.01),
    "period 60, max_cycles 2": S.cosine_restarts(PEAK, 60, max_cycles=2),
}, title="cosine with warm restarts")

# %% [markdown]
# ## Cyclical and one-cycle
#
# `cyclical(base_lr, max_lr, step_size_up=U, step_size_down=W, mode, gamma)` (Smith's CLR):
# triangles between the two rates, $U$ steps up and $W$ (default $U$) down;
# $\text{lr} = \text{base} + (\text{max} - \text{base})\,h(t)\,s$ with $h$ the triangle in
# $[0, 1]$ and the scale $s = 1$ (`"triangular"`), $2^{-k}$ in cycle $k$ (`"triangular2"`) or
# $\gamma^t$ (`"exp_range"`).
#
# `one_cycle(peak, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor,
# three_phase)`: from $\eta/\text{div}$ up to $\eta$ over the first `pct_start` of the run,
# then down to $\eta/(\text{div}\cdot\text{final\_div})$ (cosine or linear interpolation); with
# `three_phase` it first comes back down to the start value symmetrically.

# %%
show({
    "triangular": S.cyclical(0.01, PEAK, step_size_up=25),
    "triangular2": S.cyclical(0.01, PEAK, step_size_up=25, mode="triangular2"),
    "exp_range (gamma 0.99)": S.cyclical(0.01, PEAK, step_size_up=25, mode="exp_range", gamma=0.99),
    "asymmetric: 10 up, 40 down": S.cyclical(0.01, PEAK, step_size_up=10, step_size_down=40),
}, title="cyclical learning rates")

# %%
show({
    "one_cycle (cos)": S.one_cycle(PEAK, STEPS),
    "one_cycle (linear)": S.one_cycle(PEAK, STEPS, anneal_strategy="linear"),
    "one_cycle (three phases)": S.one_cycle(PEAK, STEPS, three_phase=True),
}, title="one-cycle")

# %% [markdown]
# ## Composition
#
# * `join(schedules, boundaries)`: piece $i$ runs from boundary $b_{i-1}$ to $b_i$ on its own
#   clock, $\text{lr}(t) = \text{schedules}_i(t - b_{i-1})$ (optax's `join_schedules`);
# * `product(*schedules)`: the pointwise product; numbers act as constant factors.

# %%
show({
    "join: constant, then cosine from 120": S.join([S.constant(PEAK), S.cosine_decay(PEAK, 80)], [120]),
    "join: warmup ramp, constant, linear": S.join(
        [S.warmup(S.constant(PEAK), 20), S.constant(PEAK), S.linear_decay(PEAK, 60)], [20, 140]),
    "product: triangles x cosine envelope": S.product(S.cyclical(0.2, 1.0, 10), S.cosine_decay(PEAK, STEPS)),
}, title="join and product")

# %% [markdown]
# ## Reduce on plateau
#
# `reduce_on_plateau(factor, patience, threshold, threshold_mode, mode, cooldown, min_lr)` is
# not a function of the step but a small state machine driven by a metric (torch's
# `ReduceLROnPlateau` semantics): `init(lr)`, `update(state, metric)`, `lr(state)`. When the
# metric has not improved by more than `threshold` for more than `patience` updates, the rate
# is multiplied by `factor`. It is pure, so it runs inside `jit` and `lax.scan`; here on a
# made-up validation loss that flattens out.

# %%
plateau = S.reduce_on_plateau(factor=0.5, patience=5, threshold=1e-2, cooldown=3)
epochs = jnp.arange(120)
noise = 0.01 * jax.random.normal(jax.random.key(0), epochs.shape)
metric = 0.3 + jnp.exp(-epochs / 15.0) + noise


def step(state, m):
    state = plateau.update(state, m)
    return state, plateau.lr(state)


_, lrs = jax.jit(lambda ms: jax.lax.scan(step, plateau.init(PEAK), ms))(metric)
fig = Figure(figsize=(6, 3), layout="constrained")
ax = fig.subplots()
ax.plot(epochs, metric, color="grey", label="metric (validation loss)")
ax.set_xlabel("epoch")
ax.legend(loc="upper center")
ax2 = ax.twinx()
ax2.step(epochs, lrs, where="post", color="C3", label="learning rate")
ax2.set_ylabel("learning rate", color="C3")
display(fig)

# %% [markdown]
# ## torch twins, side by side
#
# `jaxsched.compat.torch` has one function per `torch.optim.lr_scheduler` class, with torch's
# argument names; `f(t)` equals the optimizer's learning rate after `t` calls of
# `scheduler.step()` (checked against real torch in the test suite). Below each twin (dashed) is
# drawn over the native schedule it corresponds to (thick), with their largest difference over
# the range where they are meant to agree. Two deliberate differences:
#
# * `cosine_annealing_lr` is what torch's recursive formula computes: past `T_max` the rate
#   climbs back up (a cosine with period $2 T_{max}$), where `cosine_decay` holds its end value;
# * torch's `OneCycleLR` reaches the peak and the end one step earlier than the real-valued
#   phase boundaries of `one_cycle` (its phases end at `pct_start * total_steps - 1` and
#   `total_steps - 1`), a difference of at most one step's change.

# %%
N = 120
lr_fn = lambda s: 1.0 / (1.0 + 0.05 * s)  # a jnp-traceable lambda for LambdaLR
PAIRS = [  # (title, native, torch twin, steps where they agree)
    ("StepLR", S.step_decay(PEAK, 30, 0.5), tc.step_lr(PEAK, step_size=30, gamma=0.5), N),
    ("MultiStepLR", S.multistep(PEAK, [50, 80], 0.3), tc.multi_step_lr(PEAK, [50, 80], gamma=0.3), N),
    ("ExponentialLR", S.exponential_decay(PEAK, 0.97), tc.exponential_lr(PEAK, gamma=0.97), N),
    ("CosineAnnealingLR", S.cosine_decay(PEAK, 80), tc.cosine_annealing_lr(PEAK, T_max=80), 81),
    ("CosineAnnealingWarmRestarts", S.cosine_restarts(PEAK, 20, period_mult=2.0),
     tc.cosine_annealing_warm_restarts(PEAK, T_0=20, T_mult=2), N),
    ("CyclicLR (triangular2)", S.cyclical(0.01, PEAK, 15, mode="triangular2"),
     tc.cyclic_lr(0.01, PEAK, step_size_up=15, mode="triangular2"), N),
    ("OneCycleLR", S.one_cycle(PEAK, N), tc.one_cycle_lr(PEAK, total_steps=N), 0),
    ("PolynomialLR", S.polynomial_decay(PEAK, 100, power=2.0),
     tc.polynomial_lr(PEAK, total_iters=100, power=2.0), N),
    ("LinearLR", S.warmup(S.constant(PEAK), 30, init_value=0.25 * PEAK),
     tc.linear_lr(PEAK, start_factor=0.25, end_factor=1.0, total_iters=30), N),
    ("ConstantLR", S.join([S.constant(0.5 * PEAK), S.constant(PEAK)], [30]),
     tc.constant_lr(PEAK, factor=0.5, total_iters=30), N),
    ("LambdaLR", S.product(PEAK, lr_fn), tc.lambda_lr(PEAK, lr_fn), N),
    ("MultiplicativeLR", S.exponential_decay(PEAK, 0.98),
     tc.multiplicative_lr(PEAK, lambda s: 0.98), N),
    ("SequentialLR (warmup, cosine)", S.warmup(S.cosine_decay(PEAK, 90), 10, init_value=0.1 * PEAK),
     tc.sequential_lr([tc.linear_lr(PEAK, start_factor=0.1, total_iters=10),
                       tc.cosine_annealing_lr(PEAK, T_max=90)], milestones=[10]), 101),
    ("ChainedScheduler (ConstantLR, ExponentialLR)",
     S.product(S.join([S.constant(0.1), S.constant(1.0)], [10]), S.exponential_decay(PEAK, 0.97)),
     tc.chained_scheduler(tc.constant_lr(PEAK, factor=0.1, total_iters=10),
                          tc.exponential_lr(PEAK, gamma=0.97)), N),
]


def side_by_side(pairs, steps, twin_label, ncols=3):
    t = jnp.arange(steps)
    nrows = -(-len(pairs) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 2.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols).flat
    worst = {}
    for ax, (title, native, twin, agree) in zip(axes, pairs, strict=False):
        a = np.asarray(jax.jit(native)(t))
        b = np.asarray(jax.jit(twin)(t))
        ax.plot(t, a, lw=4, alpha=0.35, color="C0", label="jaxsched.schedules")
        ax.plot(t, b, "--", lw=1.2, color="black", label=twin_label)
        if agree:
            worst[title] = float(np.max(np.abs(a[:agree] - b[:agree])))
            note = f"max |diff| over t < {agree}: {worst[title]:.1e}"
        else:
            note = f"max |diff| {np.max(np.abs(a - b)):.1e}: phases end one step apart"
        ax.set_title(f"{title}\n{note}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7, loc="lower left")
    for ax in fig.axes[len(pairs):]:
        ax.set_axis_off()
    return fig, worst


fig, worst = side_by_side(PAIRS, N, "compat.torch")
assert max(worst.values()) < 1e-6, worst
display(fig)

# %% [markdown]
# ## SambaFlow twins
#
# `jaxsched.compat.sambaflow` mirrors SambaFlow's `--lr_schedule` choices: a linear warmup from
# 0 to `learning_rate` over `warmup_steps`, then a cosine (`end_lr_ratio` default 0.1) or linear
# (default 0.0) decay that reaches `end_lr_ratio * learning_rate` at `max_steps` and holds it;
# `fixed_lr` is a constant. They are the native warmup schedules with the end value given as a
# ratio. (`--steps_this_run` only stops training early: `jaxsched train --steps-this-run`.)

# %%
SAMBA = [
    ("cosine_schedule_with_warmup", S.warmup_cosine_decay(PEAK, 20, 100, end_value=0.1 * PEAK),
     sambaflow.cosine_schedule_with_warmup(PEAK, warmup_steps=20, max_steps=100), N),
    ("polynomial_decay_schedule_with_warmup", S.warmup_linear_decay(PEAK, 20, 100),
     sambaflow.polynomial_decay_schedule_with_warmup(PEAK, warmup_steps=20, max_steps=100), N),
    ("fixed_lr", S.constant(PEAK), sambaflow.fixed_lr(PEAK), N),
]
fig, worst = side_by_side(SAMBA, N, "compat.sambaflow")
assert max(worst.values()) < 1e-6, worst
display(fig)

# %% [markdown]
# ## Sweeps: hyperparameters are arrays
#
# Every numeric hyperparameter may be a JAX array, so a family of schedules is one `vmap`, which
# is how a sweep trains many runs in one compiled program (see the `schedule_free_vs_cosine`
# notebook). Here, warmup-cosine at four horizons:

# %%
horizons = jnp.array([50, 100, 150, 200])
table = jax.vmap(lambda T: S.warmup_cosine_decay(PEAK, 10, T)(jnp.arange(STEPS)))(horizons)
fig = Figure(figsize=(6, 3), layout="constrained")
ax = fig.subplots()
for T, row in zip(horizons, table, strict=True):
    ax.plot(row, label=f"total_steps={int(T)}")
ax.set_xlabel("step")
ax.set_ylabel("learning rate")
ax.legend(fontsize=8)
print(table.shape)
display(fig)

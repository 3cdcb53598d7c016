# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Learning-rate scheduling, reproduced on jaxsched
#
# The chapter "Learning Rate Scheduling" of *An Alchemist's Notes on Deep Learning* trains a
# small vision transformer (TinyViT) on CIFAR-10 with Adam for 100k steps and asks four
# questions:
#
# 1. does decaying the learning rate help, and how does the length of the decay matter?
# 2. does the *shape* of the decay matter (linear, cosine, a single late drop)?
# 3. can averaging the parameters of a constant-learning-rate run replace the decay?
# 4. does schedule-free Adam, which folds averaging into the optimizer, get the benefit of a
#    decay without knowing the horizon, at *every* horizon (a Pareto comparison)?
#
# This notebook reruns the whole chapter with `jaxsched`: every run is data in
# `jaxsched.chapter.alchemist`, the training is one compiled, vmapped program per optimizer
# structure, and `jaxsched.chapter.reproduce.reproduce` writes the figures and a report that marks
# each of the notes' claims as held or not held in *this* run.
#
# **Scale.** `PRESET` chooses the size. `"smoke"` (the default, what the tests run) is a toy
# model for 40 steps: it checks that everything runs, and its numbers mean nothing. `"quick"`
# takes about 4 minutes on a 2-core CPU, `"cpu"` a few hours, `"full"` is the notes' 100k steps
# and wants a GPU or TPU (JAX uses whatever accelerator it finds; nothing in this notebook
# changes). Shorter presets keep the notes' proportions: decay lengths, the EMA averaging window
# and the loss-smoothing window are all fractions of the horizon.
#
# **Data.** `data="auto"` uses CIFAR-10 when it is cached (or downloadable) and otherwise warns
# and falls back to a deterministic CIFAR-shaped synthetic set. Every figure and the report say
# which data they used; losses on synthetic data are only comparable with each other.

# %%
PRESET = "smoke"  # "quick" (about 4 minutes on a CPU), "cpu" (hours), "full" (the notes' 100k)
OUT_DIR = None  # a directory to keep the runs in (and resume from); None: a temporary one

# %%
# %matplotlib inline
import json
import pathlib
import tempfile

import jax
import numpy as np
from IPython.display import Image, Markdown, display

from jaxsched.chapter import alchemist, figures, notes_curves
from jaxsched.chapter.reproduce import reproduce
from jaxsched.smoothing import moving_average
from jaxsched.workloads.image import SIZES

preset = alchemist.preset("tinyvit", PRESET)
out = pathlib.Path(OUT_DIR) if OUT_DIR else pathlib.Path(tempfile.mkdtemp(prefix=f"jaxsched-{PRESET}-"))
print(f"preset {preset.name}: {preset.steps} steps, {preset.description}")
size = SIZES[PRESET]
print(f"workload tinyvit {size.name}: {size.model}, batch {size.batch_size}")
print(f"devices: {jax.devices()}")
print(f"output: {out}")

# %% [markdown]
# ## The runs, as data
#
# Each run of the chapter is a `RunSpec`: an optimizer, a schedule, the fraction of the horizon
# it trains for; beside it, the final smoothed train loss read off the notes' curve at 100k steps
# (`jaxsched.chapter.notes_curves`). A preset
# turns the specs into concrete configs; runs are keyed by their whole config, so running this
# notebook again with the same `OUT_DIR` skips the runs that already finished.

# %%
rows = ["| run | optimizer | schedule | length | EMA decay at this preset | notes' final loss |",
        "|---|---|---|---|---|---|"]
for label, spec in alchemist.RUNS.items():
    kwargs = ", ".join(f"{k}={v}" for k, v in spec.schedule_kwargs.items())
    schedule = f"{spec.schedule}({kwargs})" if kwargs else spec.schedule
    ema = f"{preset.ema_decay(spec.ema_decay):.4g}" if spec.ema_decay is not None else ""
    rows.append(f"| {label} | {spec.optimizer} | {schedule} | {spec.length:.0%} "
                f"| {ema} | {notes_curves.final(label):.2f} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Train everything
#
# One call trains the 13 runs (runs that share an optimizer structure train together in one
# vmapped program), evaluates them at their evaluation parameters (the average, for the
# averaging and schedule-free optimizers), draws the figures and writes `REPORT.md`. The
# command-line equivalent is `jaxsched reproduce --preset smoke --out DIR`.

# %%
report_path = reproduce(PRESET, out, data="auto", progress=False)
sorted(p.name for p in (out / "figures").glob("*.png"))

# %% [markdown]
# The figures below are the ones `reproduce` wrote to `out/figures/`, drawn like the notes'
# (a moving average over 1% of the horizon, the notes' y range, widened when this run's curves
# would leave it). `out/runs.json` names the run directories of each run of the chapter.

# %%
runs = out / "runs"
index = json.loads((out / "runs.json").read_text())  # label -> [run id per seed]
data_name = json.loads((runs / index["Constant LR"][0] / "config.json").read_text())["task"]["data"]


def losses(label: str) -> np.ndarray:
    return np.load(runs / index[label][0] / "losses.npy")


def show(name: str) -> None:
    display(Image(filename=str(out / "figures" / f"{name}.png")))


# %% [markdown]
# ## 0. Is this run in the notes' regime?
#
# The notes' comparisons are about the end of a long run that learns at once: their constant-LR
# run leaves ln 10 in its first steps, trains 256 epochs and ends at 0.18 (8% of ln 10) while
# still improving. `REPORT.md`'s "Regime" section checks this run against bands taken from the
# notes, from the constant-LR run and the data alone; the figure shows that run in units of
# ln 10 with the bands drawn in. The smoke preset is a test of the machinery and is outside
# the bands by design; `quick`, `cpu` and `full` are sized to land inside them, and the report
# says, seed by seed, whether they did.

# %%
report_text = report_path.read_text()
display(Markdown(report_text[report_text.index("## Regime"):report_text.index("## Final")]))
display(Image(filename=str(out / "figures" / "regime.png")))

# %% [markdown]
# ## 1. Does decaying the learning rate help, and for how long should it decay?
#
# Classical optimisation theory asks for a learning rate that goes to zero: at a fixed step
# size, stochastic gradients keep the parameters bouncing around a minimum instead of settling
# into it. The first experiment compares a constant learning rate (the notes' swept best,
# 1e-3) with linear decays to zero. The decays end at 100%, 75%, 50% and 25% of the horizon,
# and each run stops when its decay reaches zero, so the figure also shows what a short decay
# buys: the moment the learning rate reaches zero, the loss drops below the constant run.
#
# The notes find that every linear decay ends well below the constant run at its own horizon
# (0.05 at 100k against 0.18 for the constant rate), and the longer the run the lower it ends.

# %%
show("decay_lengths")

# %% [markdown]
# ## 2. Does the shape of the decay matter?
#
# Same horizon, different shapes: linear, cosine (half a cosine period from the peak down to
# zero), and a single drop by 10x either after 25% or after 75% of training. In the notes,
# linear, cosine and the late drop end at about the same loss: what matters is *that* the
# learning rate gets small at the end, not how. The early drop is the instructive one: it gets
# its gain from the smaller step immediately, but then learns more slowly for the remaining 75%
# and ends above the others. A high learning rate keeps making progress that only shows once
# the rate comes down.

# %%
show("decay_shapes")

# %% [markdown]
# ## 3. Averaging the parameters instead of decaying the learning rate
#
# Decaying the learning rate removes the oscillation from the parameters; averaging the
# iterates of a constant-rate run can cancel it too. A linear decay weights a gradient taken at
# time $t$ by $1 - t/T$, the same weight it gets in a uniform average of the parameters from
# $t$ on; the difference is where the gradients are taken (at the smoothed point, or at the
# noisy iterate). The notes compare Polyak (uniform) averaging with exponential moving averages
# (decays 0.9999 and 0.999, debiased like Adam's moments). The reported loss of an averaging
# run is the loss at the *averaged* parameters (`jaxsched.optim.eval_params`).
#
# The notes find that the EMA at 0.9999 matches cosine decay at the end of training without
# knowing the horizon, while the Polyak average lags even the constant-rate run; the notes suspect
# the equal weight it keeps on the early, poor parameters. (At shorter presets the EMA decays are rescaled so
# the averaging window stays the same fraction of the horizon.)

# %%
show("averaging")

# %% [markdown]
# ## 4. Schedule-free Adam
#
# Schedule-free optimisation (Defazio et al., 2024) puts the average inside the optimizer: it
# keeps a fast iterate $z$ and its average $x$, takes the gradient at the interpolation
# $y = (1-\beta_1) z + \beta_1 x$ (mostly the average, with $\beta_1 = 0.9$), lets $z$ take the
# RMS-normalised step and averages $z$ into $x$ (Polyak or EMA). It has no momentum of its own:
# the interpolation plays that part. `jaxsched.optim.schedule_free_adam` is the notes' version;
# `schedule_free_adamw` is the paper's reference algorithm.
#
# In the notes both schedule-free variants reach cosine decay's final loss at a constant
# learning rate, the exponential one slightly below it.

# %%
show("schedule_free")

# %% [markdown]
# ## 5. Pareto: a schedule-free run against every decay length at once
#
# The claim of the schedule-free paper is stronger than "matches cosine at the end": the one
# constant-rate run should be at or below a decayed run *at every horizon*, i.e. its loss curve
# passes under the end point of each linear decay (red) without knowing where that end is. Each
# panel puts one averaging method (black) over the constant run (grey) and the four decays. The
# notes find the exponential schedule-free run Pareto-dominant over all linear decays; Polyak
# schedule-free and the plain EMA come close.

# %%
show("pareto")

# %% [markdown]
# ## This run against the notes
#
# Final smoothed train losses of this run beside the values read off the notes' figures. On the
# synthetic data or at a small preset only the ordering of the runs can be compared, not the
# values.

# %%
display(Image(filename=str(out / "figures" / "final_vs_notes.png")))

# %% [markdown]
# ## The report
#
# `REPORT.md` holds the table of final losses (with test accuracy at the evaluation parameters)
# and the notes' claims, each marked *held* or *not held* with the numbers behind the verdict.
# At the smoke preset most claims fail, as they should: 40 steps of a toy model on random-ish
# data cannot reproduce a 100k-step result. Run `quick` or larger to test them.

# %%
report = report_path.read_text()
display(Markdown(report.split("\n## Figures")[0]))

# %% [markdown]
# ## Digging into the runs
#
# Every run has its own directory under `out/runs/`: `config.json`, the per-step losses in
# `losses.npy`, test metrics in `eval.json`, `summary.json`, and the final evaluation
# parameters. `out/runs.json` gives the run ids, so any comparison the notes did not draw is a
# few lines away, e.g. the late stepwise drop against the schedule-free runs:

# %%
picked = ["Constant LR", "Stepwise at 75%", "ScheduleFree (Polyak)", "ScheduleFree (Exponential)"]
top = max(moving_average(losses(label), preset.window).max() for label in picked)
figures.plot_comparison([(label, losses(label)) for label in picked], window=preset.window,
                        ylim=max(1.0, 1.1 * top), title="Train Loss", data_label=data_name,
                        notes=True)  # the notes' CIFAR-10 curves drawn faintly behind

"""The regime rule: is a scaled-down run in the regime of the notes' chapter?

The notes' comparisons are about the end of a long run that learns at once and then keeps
improving slowly: on CIFAR-10 their constant-learning-rate run falls off ln 10 in its first
steps, trains 256 epochs, and ends at 0.18 ("we're still making learning progress") while the
decays and averages end near 0.05. A scale-down in which the runs sit on a plateau at ln 10, or
are still in their steep fall at the end, or learn in a few discrete stages, asks a different
question, and answers it differently.

The rule is computed from the **constant-learning-rate run and the data alone**, never from the
claims, and it was fixed before any claim of a re-sized preset was looked at. Where the notes'
value can be computed from their curve (:mod:`jaxsched.chapter.notes_curves`) it is; the shape
bands were written down before any preset was sized by them.

================  =====================================================  =============  ============
diagnostic        definition                                             notes          band
================  =====================================================  =============  ============
``final``         constant run's final smoothed loss / ln 10             0.18 / ln 10   0.04 - 0.16
                                                                         = 0.078        (x1/2 .. x2)
``epochs``        steps x batch / training-set size                      256            32 - 2048
                                                                                        (x1/8 .. x8)
``plateau``       fraction of the horizon before the smoothed loss       <= 0.01        0 - 0.05
                  first falls below 0.9 ln 10 (a start above ln 10
                  from random logits does not count)
``ratio_25``      L(T/4) / L(T), shape-smoothed (below)                  3.52           1.88 - 12.42
``ratio_50``      L(T/2) / L(T)                                          1.82           1.35 - 3.32
``ratio_75``      L(3T/4) / L(T)                                         1.27           1.13 - 1.61
``late_fall``     1 - L(T) / L(3T/4), the last quarter's relative fall   0.21           0.12 - 0.38
``step``          largest fall over a tenth of the horizon, less its     1              0 - 2
                  noise, over the notes' steepest fall near that time
``nu``            end-of-run noise share, 1 - L_step75(T) / L_const(T)   1 - 0.052 /    0.46 - 0.91
                  (the chapter's Stepwise-at-75% run against constant,   0.178 = 0.71
                  at the end-of-run statistic)
================  =====================================================  =============  ============

(The shape values and ``nu`` are computed from the notes' curves when this module loads; the
table gives them rounded.) Beside the bands, :func:`drop_gain` reports the share of the loss a
10x drop removes within 5% of the horizon; it is not banded.

**The noise share.** The eight diagnostics above describe the constant run alone, and a run can
pass all of them while cutting its learning rate gains nothing: when most of the constant run's
late loss is learning still to do, a lower rate slows it as much as it removes noise (a
*progress-limited* run), while on CIFAR-10 most of it is the noise any decay removes (a
*noise-limited* one). ``nu = 1 - L_step75(T) / L_const(T)`` measures which, from the two runs
that are identical up to 75% of the horizon, at the end-of-run statistic the REPORT uses. Its
band follows the same rule, half to twice the notes' value of the log-fall ``ln(1 / (1 - nu))``
(the notes: ``ln(0.178 / 0.052) = 1.23``; band 0.62 .. 2.46, i.e. ``nu`` 0.46 .. 0.91), and it
enters the verdict. These two runs are the *calibrating* runs: a stand-in is chosen from them
alone, and the chapter's eleven other runs are predictions (``experiments/calibrate_standin.py``).
The 5%-window drop gain reads low on short runs, since a 10x drop needs a fixed amount of
learning-rate area to relax, not a fixed fraction of the horizon; ``nu``, measured at the end,
does not.

``final``: the notes' value is read off their plot (0.18, the constant run's row of
:data:`jaxsched.chapter.alchemist.RUNS`); the band allows half to twice that fraction of
chance. ``epochs``: the notes' 100k steps of batch 128 over 50k images; a factor 8 either
side keeps the runs in the many-passes regime in which the train loss is measured on data the
model has seen often. ``plateau``: in the notes' constant-LR figure the smoothed curve is far
below ln 10 from its first plotted point (the 1000-step window, 1% of the horizon); the band
allows five times that. These three use the notes' smoothing (:mod:`jaxsched.smoothing`,
window 1% of the horizon); the step at which the curve "first falls below" is the last step of
the first window whose mean is below.

**Shape.** The three bands above hold for a curve that stalls for a fifth of its horizon and
then falls in a few discrete stages, more than half of it in its last quarter, while the notes'
constant run falls smoothly and convexly, like a power law, by 21% over its last quarter. How
much a run still falls at the end decides what a decay can gain over constant: a run limited by
progress (a large late fall) loses by cutting its learning rate, one limited by the noise a
decay removes gains. So the rule also bands the curve's shape, from the constant run alone:

* ``ratio_t = L(t) / L(T)`` at ``t`` = 25, 50 and 75% of the horizon: how much of the run's
  fall (in log units, ``ln ratio_t``) is still to come after ``t``;
* ``late_fall = 1 - L(T) / L(3T/4)``, the last quarter's relative fall. It is ``ratio_75`` on
  another scale (``late_fall = 1 - 1 / ratio_75``) and shares its band; it is kept because it
  reads directly as "still improving": a large late fall is a run limited by progress;
* ``step``: no window in which the curve falls much faster than the notes' did at the same
  time. For every ``t`` on a grid of 1% of the horizon from 25% to 100%, the log-fall over the
  preceding tenth of the horizon, ``f(t) = ln L(t - T/10) - ln L(t)``, is computed for this run
  and for the notes; the notes' steepest fall near ``t`` is ``g(t) = max f_notes`` over
  ``|t' - t| <= T/20`` (the max over a neighbourhood absorbs the notes' own reading noise and
  the +-300 steps of their reading); this run's fall is reduced by twice its standard error,
  ``2 se(t)``, with ``se(t)^2 = s(t)^2 / (w L(t)^2) + s(t-T/10)^2 / (w L(t-T/10)^2)`` from the
  sample variance ``s^2`` of the ``w`` per-step losses in each window (steps treated as
  independent; a trend inside a window only adds to ``s``, i.e. to the allowance). Then
  ``step = max_t max(0, f(t) - 2 se(t)) / g(t)``. The notes score 1 by construction.

The bands follow one rule, the ``final`` band's: **half to twice the notes' value**, applied to
log-falls (``ln ratio_t`` in ``[ln ratio_notes / 2, 2 ln ratio_notes]``, i.e. ``ratio_t`` in
``[sqrt(ratio_notes), ratio_notes^2]``; ``late_fall`` through ``ratio_75``; ``step`` at most
2). Twice the notes' log-fall separates the failures the rule is for from a smooth curve: a
smooth curve whose local exponent is within a factor 2 of the notes' stays inside every band; a
run whose loss still halves over its last quarter (late fall 0.5) is outside, as is one that has
stopped improving by the middle of its horizon (``ratio_50`` below 1.35). A staircase that
follows the notes' curve in 3 or 4 stages lands inside every other band, and its drops (up to
``ln 1.6`` within a tenth of the horizon, where the notes fall 0.09 .. 0.38) score ``step`` 2.1
.. 2.5 (``tests/test_regime.py``); with 6 stages it scores 1.9, nearly smooth at the 5% window's
resolution. The late-fall band's low end (0.12, half the notes' log-fall) is the noise-limited
end: below it a decay has hardly anything to gain over constant.

**Smoothing of the shape diagnostics.** ``L(t)`` is the mean train loss over the ``5%`` of the
horizon that ends at ``t`` (:data:`SHAPE_FRACTION`), for this run and for the notes' curve
alike (built exactly from the notes' disjoint 1,000-step rows,
:func:`jaxsched.chapter.notes_curves.smoothed`), so both are compared like for like. The notes'
1% window averages 1,000 steps of 128 images; at 1,000 steps of 64 images a 1% window averages
10 steps, 200 times fewer examples, and single-seed values jump by 0.1. 5% (50 steps) cuts the
standard error by ``sqrt(5)`` and still resolves the tenth-of-the-horizon falls of ``step``;
the curve's curvature inside the window biases this run and the notes the same way.

**Scale-down rules.** How a preset maps the notes' run (TinyViT width 128, 4 blocks, 4 heads,
Adam lr 1e-3 b1 0.9 b2 0.999 eps 1e-6, batch 128, 100k steps, 50k images) onto a shorter one:

* *Horizon*: the preset's ``steps`` plays the notes' 100k; every length in the chapter (decay
  lengths, the stepwise drops, the EMA time constants, the smoothing windows) is a fraction of
  it and keeps that fraction.
* *Epochs*: ``steps x batch / n_train`` within the ``epochs`` band (the notes' 256, x1/8 .. x8):
  a shorter horizon means a smaller training set, never fewer passes than 32.
* *Batch*: the notes' 128 where the budget allows (``full``); smaller on a CPU, the cost of a
  step being about linear in it. A CPU budget of 64k examples buys 1,000 steps of 64 or 2,000
  of 32, and the budget goes to steps: measured on the full-width model's constant run, 1,000
  steps leave it limited by progress (last-quarter falls 0.37-0.48), 2,000 of 32 do not; on the
  half-width model's two calibrating runs, 2,000 steps of 32 raised the noise share at the
  constant run's best learning rate from 0.15 to 0.38 (label noise off;
  ``experiments/calibration``, probes A and F). So both CPU presets trained 2,000 steps of 32
  (this clause was amended after those measurements). Halving the batch again at the same
  examples raised it further each time (10,000 of 16, 20,000 of 8, 40,000 of 4 on the
  quarter-width model) and removed the wander that fails ``step``; the quick preset trains
  40,000 steps of 4 (160k examples, 32 passes over 5,000 images), the most a 5-minute budget
  allows, and the cpu preset the notes' full-width model for 32,000 steps of 4 (128k examples,
  32 passes over 4,000 images), hours on a 2-core CPU (this clause was amended again after the
  fourth and the sixth round of probes).
* *Learning rate*: the notes' protocol, not a transfer rule: the notes found their 1e-3 "by
  doing a sweep", so each preset's rate is its own sweep's, the constant run's best
  (:mod:`jaxsched.chapter.sweep`; the committed sweeps are ``results/<preset>-lr-sweep``).
  The rate moves ``nu`` most of all: a higher rate adds noise a decay removes, a lower one
  leaves learning a decay slows, and near the constant run's best its final loss is flat while
  ``nu`` is not (on the calibrating runs it rose from 0.1 to 0.6 between 5e-4 and 2e-3 at
  nearly the same constant loss), so a stand-in is judged at the rate the sweep picks.
* *Adam's b2* stays the notes' 0.999. Its memory (~1,000 steps) is 1% of the notes' horizon but
  all of a 1,000-step one; it would matter if the gradients' second moment changed much within
  that memory, making the constant run a hidden decay (or warm-up). Adam's bias correction
  makes ``v`` an average over all the steps so far while they are fewer than ~1,000, and at a
  constant lr the gradients' second moment is dominated by minibatch noise, which changes
  slowly; so the constant run's curve should not depend on it. Checked on the constant run
  alone (``experiments/standin_probe.py``, the quick stand-in, seeds 0-2): with b2 0.99 its
  curve at 10% .. 100% is the same as with 0.999 within the seeds' spread (final 5%-window
  loss 0.344 against 0.352, mean of three seeds; per seed within 0.03). On the calibrating
  runs 0.99 raised ``nu`` at a given rate but moved the constant run's best rate down, leaving
  ``nu`` at the best rate no higher (``experiments/calibration``, probes N, Q, S).
* *Data*: the synthetic stand-in's knobs (:class:`jaxsched.workloads.standin.Difficulty`) are
  chosen on the two calibrating runs alone, the bands above and ``nu`` at the rate the sweep
  picks; nothing else is tuned on it (``experiments/calibration/README.md`` lists every probe).
  What moved ``nu`` there: the Zipf exponent of the sub-classes' frequencies (a steeper fall
  leaves less to learn at the end, so more of the final loss is noise: 0.45 at 1.6 against 0.58
  at 1.8 on the quick model, at the cost of a final loss below its band), label noise (each
  moved label is learned slowly, by memorising: 0.45 at 1%, 0.33 at 2%; none gives jumpier
  curves), the training-set size (more data, less saturation: 0.36 at 2,000 images against
  1,536), and the model (the full-width one saturates sooner: a flatter fall, 1.5, puts it in
  the band).

A noise-limited run at a short horizon fails ``step`` for a second reason, measured on the
calibrating runs: at a constant learning rate its loss makes intermittent excursions, dips and
spikes of up to 3x lasting 50-100 steps (learning-rate noise, which a decay removes), and a 5%
window of a 2,000-step run (100 steps) does not average them out as the notes' 1,000-step
windows do. Of the 23 pairs of candidate and learning rate whose ``nu`` was in band on every
seed, 22 failed ``step`` on some seed, and none was inside every band on every seed
(``experiments/calibration``); an autocorrelation-robust allowance (the spread of the window
means' second differences) moved a failing run's score from 5.0 to 4.0 only, since the
excursions are rare large events, not a steady wander. The band was not widened.

A second round (probes AE-AO) tested a rule written down before it ran: spend the quick
preset's budget on examples per window, with a quarter-width model (2.7x cheaper per step,
measured) trained 2.5 to 5 times longer (5,000 steps of 32, then 10,000 of 16). The wander
appeared whenever the model saturated (1,536 to 3,584 training images, or a Zipf fall of 1.7
or more) and not on 4,096 images with a fall of 1.6, where removing the moved labels raised
``nu`` at the constant run's best rate from 0.30 to 0.44. One candidate (AO: 10,000 steps of
16, 4,096 images, no moved label) was inside every band on every seed at 2e-3, its probe's best
rate; but the committed sweep procedure on it picked 1e-3 (constant 0.124 +- 0.007 against
0.126 +- 0.014 at 2e-3), where ``nu`` is 0.39-0.45 on every seed. The constant run's optimum is
flat within the seeds' spread there, and the same seed and rate trained in groups of other
sizes ended up to 15% apart at 2e-3 (identical to 3 digits at 5e-4): the seeds and the
floating point, not the rates, decide between the two. AO was not adopted. Eight more
candidates were then held to a stricter test, written before they ran: every band on every seed
at the probe's best rate and at every rate its seeds do not resolve from it
(:func:`jaxsched.chapter.sweep.unresolved`). None passed. Two (Zipf falls of 1.65 and 1.7) held
every band at their best rate, 2e-3, with ``nu`` 0.54-0.70, but at the unresolved 1e-3 ``nu``
was 0.39-0.41 on one seed; the others saturated (a final loss below its band, or the wander)
or, on 5,120 images, made fewer than 32 passes. On the two, ``nu`` rose by 0.1-0.15 per factor
2 of the rate while the constant run's final loss moved by less than its spread between 1e-3
and 2e-3, so which side of 0.46 it lands on is the sweep's choice between two tied rates. The
quick preset keeps its first-round stand-in (``experiments/calibration``: AO_sweep, AQ-AX).

A third round (AY-BG, its rule and the same acceptance test written before it ran) spent the
same examples on still more steps, 20,000 of 8. That removed the wander: ``step`` was at most
1.97 on every seed at every rate, and two candidates (Zipf 1.7 and 1.75 on 5,000 images) were
in every band on every seed at 2e-3, ``nu`` 0.60-0.64. But the constant run's final loss was
then flat within the seeds' spread from 5e-4 to 2e-3, a factor 4 of the rate, and ``nu`` at
5e-4 was 0.34-0.48; a steeper fall that lifts it (Zipf 1.8) saturates the model again. The
same held for the full-width model given twice the cpu preset's examples (16,000 steps of 8
over 4,000 images): smooth, ``nu`` 0.60-0.75 from 2.5e-4 to 1e-3, but its constant run is
best at 1.25e-4, tied with 2.5e-4, where ``nu`` is 0.33-0.41. The obstacle left at these sizes
is the width of the constant run's optimum, not the shape of its curve.

A fourth round (BH-BQ, each probe's rule written before it ran, the same acceptance test)
halved the batch once more, 40,000 steps of 4 on the quarter-width model. That narrowed the
optimum: 2e-3 ends 0.027-0.036 above the best on every such probe, leaving two tied rates a
factor 2 apart. At the higher, two candidates (Zipf 1.6; Zipf 1.75 with a heavier distractor)
are in every band on every seed, ``nu`` 0.56-0.62; at the lower ``nu`` is 0.41-0.49 on four
of the five. The fifth (Zipf 1.75) has ``nu`` in band at both rates, 0.48-0.51 and 0.60-0.61,
but one seed saturates at its best rate (final 0.034); a longer horizon over more images
saturates it further, and an eighth-width model (width 16) is limited by progress (``nu``
0.30-0.38 at its best rates). Between the two, Zipf 1.75 with a distractor of 1.15 (BO) was
accepted: best at 1e-3 (``nu`` 0.60-0.64), tied with 5e-4 (``nu`` 0.46-0.48), every band on
every seed at both, with narrow margins (``nu`` 0.464, ``final`` 0.041). It is the quick
preset's stand-in (:data:`jaxsched.workloads.image.STANDIN`). The full-width model with the
cpu preset's data at 32,000 steps of 4 over 4,000 images is in every band on every seed from
1.25e-4 to 5e-4 (``nu`` 0.48-0.71), best at 1.25e-4; but 6.25e-5 is not resolved from it by the
seeds' spread, and its ``nu`` is 0.12-0.15: not accepted (probe BQ). A fifth round at that
size (BR, BS) took the quick stand-in's Zipf exponent, 1.75, which made the task easier for
the full-width model: the optimum is resolved on both sides (best 1.25e-4, ``nu`` 0.51-0.64
there), but one seed in three saturates at it (final 0.032; with a distractor of 1.15,
0.038): not accepted. With a distractor of 1.3 (BT) it was accepted: best 1.25e-4, resolved
on both sides, every band on every seed there (``nu`` 0.58-0.66, ``final`` 0.046-0.058). It is
the cpu preset's stand-in (:data:`jaxsched.workloads.image.STANDIN_CPU`).

The ``step`` test's noise allowance treats steps as independent. A constant run's per-step
losses are not: at 1,000 steps its 5%-window curve wanders by 5-10% (in log) about a smooth
fit, which the allowance does not cover, so ``step`` is the band a short run fails first; the
stand-in's knobs were chosen to keep that wander small, not the band widened.

>>> import numpy as np
>>> losses = np.concatenate([np.full(10, 2.3), np.full(990, 0.2)])
>>> d = diagnose(losses, batch_size=64, n_train=2048)
>>> round(d.final, 3), d.epochs, d.plateau, d.ratio_50, d.late_fall, d.step, in_regime(d)
(0.087, 31.25, 0.012, 1.0, 0.0, 0.0, False)
>>> t = np.arange(1, 1001) / 1000          # a power law like the notes' falls smoothly
>>> d = diagnose(0.18 * ((t + 0.03) / 1.03) ** -0.85, batch_size=64, n_train=256)
>>> round(d.ratio_25, 2), round(d.late_fall, 2), round(d.step, 2), in_regime(d)
(3.21, 0.22, 1.06, False)
>>> in_regime(diagnose(0.18 * ((t + 0.03) / 1.03) ** -0.85, batch_size=64, n_train=256,
...                    nu=noise_share(0.178, 0.052)))
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from jaxsched import _validate as v
from jaxsched.chapter import alchemist, notes_curves
from jaxsched.smoothing import moving_average, smoothed_at, smoothing_window

LN10 = math.log(10.0)
PLATEAU_LEVEL = 0.9  # "10% below chance"
SHAPE_FRACTION = 0.05
"""Window of the shape diagnostics, as a fraction of the horizon (module docstring)."""
STEP_SPAN = 0.10
"""The span, as a fraction of the horizon, over which ``step`` measures a fall."""
STEP_GRID = tuple(k / 100 for k in range(25, 101))
"""Where ``step`` looks: every 1% of the horizon from 25% (the first ``t`` at which the notes'
curve, visible from 10% on, has both ends of a smoothed fall) to the end."""
RATIO_POINTS = (0.25, 0.50, 0.75)
NOISE_Z = 2.0  # standard errors of this run's own fall discounted before comparing


def _notes_shape(t):
    return notes_curves.smoothed("Constant LR", t, SHAPE_FRACTION)


def _notes_envelope() -> np.ndarray:
    """The notes' steepest log-fall over ``STEP_SPAN`` within ``STEP_SPAN / 2`` of each grid t."""
    t = np.asarray(STEP_GRID)
    fall = np.log(_notes_shape(np.round(t - STEP_SPAN, 2)) / _notes_shape(t))
    if not np.all(np.isfinite(fall) & (fall > 0)):
        raise ValueError("the notes' constant curve must be readable and falling on the grid")
    near = np.abs(t[:, None] - t[None, :]) <= STEP_SPAN / 2 + 1e-9
    return np.where(near, fall[None, :], -np.inf).max(axis=1)


NOTES_RATIOS = {p: _notes_shape(p) / _notes_shape(1.0) for p in RATIO_POINTS}
"""The notes' ``L(t) / L(T)`` under the shape smoothing, from their curve."""
NOTES_ENVELOPE = _notes_envelope()
"""``g(t)`` on :data:`STEP_GRID`: the notes' steepest log-fall near each ``t``."""


def _log_band(notes: float) -> tuple[float, float]:
    # half to twice the notes' log-fall, to the notes' reading accuracy (0.01)
    return round(math.sqrt(notes), 2), round(notes**2, 2)


@dataclasses.dataclass(frozen=True)
class Band:
    """A diagnostic's definition, the notes' value and the band a preset must land in."""

    name: str
    what: str
    notes: float
    low: float
    high: float
    notes_text: str

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


def _ratio_band(p: float) -> Band:
    notes = NOTES_RATIOS[p]
    pct = round(100 * p)
    return Band(
        f"ratio_{pct}",
        f"constant-LR run's L({pct}% of T) / L(T), mean loss over 5% windows",
        notes, *_log_band(notes), f"{notes:.2f} (their curve)",
    )


_LATE_LOW, _LATE_HIGH = (round(1.0 - 1.0 / r, 2) for r in _log_band(NOTES_RATIOS[0.75]))


DROPPED = "Stepwise at 75%"
"""The chapter's run that equals the constant run up to its 10x drop late in the horizon."""
DROP_AT = alchemist.RUNS[DROPPED].schedule_kwargs["fraction"]
"""Where :data:`DROPPED` drops its learning rate (fraction of the horizon)."""


def noise_share(constant_final: float, dropped_final: float) -> float:
    """``nu = 1 - L_step75(T) / L_const(T)``: the share of the constant run's end-of-run loss
    that the chapter's 10x drop at 75% of the horizon removes (module docstring).

    >>> round(noise_share(0.178, 0.052), 2)
    0.71
    """
    for name, x in (("constant_final", constant_final), ("dropped_final", dropped_final)):
        if not (isinstance(x, (int, float, np.floating)) and math.isfinite(x) and x > 0):
            raise ValueError(f"{name} must be a positive finite loss, got {name}={x!r}")
    return float(1.0 - dropped_final / constant_final)


NOTES_NOISE_SHARE = noise_share(notes_curves.final(alchemist.CONSTANT),
                                notes_curves.final(DROPPED))
""":func:`noise_share` of the notes' CIFAR-10 finals (their last 1,000-step windows)."""

# half to twice the notes' log-fall ln(1 / (1 - nu))
_NU_LOG = -math.log(1.0 - NOTES_NOISE_SHARE)
NOISE_SHARE_BAND = Band(
    "nu",
    "end-of-run noise share, 1 - L_step75(T) / L_const(T), at the end-of-run statistic",
    NOTES_NOISE_SHARE, round(1.0 - math.exp(-_NU_LOG / 2), 2),
    round(1.0 - math.exp(-2 * _NU_LOG), 2),
    f"{NOTES_NOISE_SHARE:.2f} (1 - {notes_curves.final(DROPPED):.3f} / "
    f"{notes_curves.final(alchemist.CONSTANT):.3f})",
)
"""The band of :func:`noise_share`: half to twice the notes' ``ln(1 / (1 - nu))``."""

BANDS: tuple[Band, ...] = (
    Band(
        "final",
        "constant-LR run's final smoothed train loss over chance (a uniform guess: ln 10 on "
        "CIFAR-10)",
        0.18 / LN10, 0.04, 0.16, "0.078 (0.18 / ln 10)",
    ),
    Band(
        "epochs",
        "passes over the training set (steps x batch / training images)",
        256.0, 32.0, 2048.0, "256 (100k x 128 / 50k)",
    ),
    Band(
        "plateau",
        "fraction of the horizon before the smoothed loss first falls below 0.9 x chance",
        0.01, 0.0, 0.05, "<= 0.01 (below from the first 1000-step window)",
    ),
    *(_ratio_band(p) for p in RATIO_POINTS),
    Band(
        "late_fall",
        "constant-LR run's relative fall over the last quarter, 1 - L(T) / L(3T/4)",
        1.0 - 1.0 / NOTES_RATIOS[0.75], _LATE_LOW, _LATE_HIGH,
        f"{1.0 - 1.0 / NOTES_RATIOS[0.75]:.2f} (their curve)",
    ),
    Band(
        "step",
        "largest fall over 10% of the horizon (less 2 standard errors) / the notes' steepest "
        "near that time",
        1.0, 0.0, 2.0, "1 (by definition)",
    ),
    NOISE_SHARE_BAND,
)


@dataclasses.dataclass(frozen=True)
class Diagnostics:
    """The regime diagnostics of one constant-learning-rate run (see the module docstring)."""

    final: float
    epochs: float
    plateau: float
    ratio_25: float
    ratio_50: float
    ratio_75: float
    late_fall: float
    step: float
    nu: float = math.nan

    def held(self) -> dict[str, bool]:
        """Each band's verdict; ``nu`` not measured (NaN) is not held."""
        return {b.name: b.holds(getattr(self, b.name)) for b in BANDS}


def plateau_fraction(losses: np.ndarray, window: int, chance: float = LN10) -> float:
    """Fraction of the horizon before the smoothed loss first falls below ``0.9 chance``
    (``chance``: the loss of a uniform prediction, ``ln 10`` for ten classes).

    1.0 when it never does. The step counted is the last one of the first window whose mean
    is below, so a curve below from its first window scores ``window / len(losses)``.

    >>> plateau_fraction(np.r_[np.full(50, 2.4), np.full(50, 1.0)], 10)
    0.53
    """
    a = np.asarray(losses, np.float64)
    sm = moving_average(a, min(window, a.size))
    below = np.nonzero(sm < PLATEAU_LEVEL * chance)[0]
    if below.size == 0:
        return 1.0
    return float((below[0] + min(window, a.size)) / a.size)


def shape_window(horizon: int) -> int:
    """Steps in the shape diagnostics' window: 5% of the horizon, at least one.

    >>> shape_window(1000), shape_window(100_000), shape_window(10)
    (50, 5000, 1)
    """
    v.check_int("horizon", horizon, minimum=1)
    return max(1, round(horizon * SHAPE_FRACTION))


def _at(a: np.ndarray, fraction: float) -> int:
    return max(1, int(round(fraction * a.size)))


def late_fall(losses: np.ndarray, window: int) -> float:
    """Relative fall of the smoothed loss over the last quarter: ``1 - L(T) / L(3T/4)``.

    >>> late_fall(np.r_[np.full(75, 2.0), np.full(25, 1.0)], 5)
    0.5
    """
    a = np.asarray(losses, np.float64)
    start = np.float64(smoothed_at(a, _at(a, 0.75), window))
    return float(1.0 - smoothed_at(a, a.size, window) / start)


def loss_ratio(losses: np.ndarray, fraction: float, window: int) -> float:
    """``L(fraction x T) / L(T)`` of the smoothed loss (``window`` steps ending at each point).

    >>> loss_ratio(np.r_[np.full(50, 0.4), np.full(50, 0.2)], 0.5, 10)
    2.0
    """
    a = np.asarray(losses, np.float64)
    return float(np.float64(smoothed_at(a, _at(a, fraction), window))
                 / smoothed_at(a, a.size, window))


def _window_stats(a: np.ndarray, end: int, window: int) -> tuple[float, float]:
    """Mean and relative standard error (of the mean, steps independent) of a window."""
    x = a[max(0, end - window): end]
    mean = float(np.mean(x))
    var = float(np.var(x, ddof=1)) if x.size > 1 else 0.0
    return mean, math.sqrt(var / x.size) / abs(mean) if mean else math.inf


def step_score(losses: np.ndarray, window: int) -> float:
    """``step``: the largest noise-discounted log-fall over 10% of the horizon, in units of
    the notes' steepest log-fall near that time (module docstring).

    >>> t = np.arange(1, 1001) / 1000
    >>> round(step_score(0.2 * np.floor(1 + 4 * (1 - t)), 50), 1)   # four stages of a staircase
    5.9
    """
    a = np.asarray(losses, np.float64)
    best = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for t, g in zip(STEP_GRID, NOTES_ENVELOPE, strict=True):
            end, start = _at(a, t), _at(a, t - STEP_SPAN)
            l1, se1 = _window_stats(a, end, window)
            l0, se0 = _window_stats(a, start, window)
            fall = math.log(l0 / l1) if l0 > 0 and l1 > 0 else math.nan
            excess = fall - NOISE_Z * math.hypot(se0, se1)
            if math.isnan(excess):
                return math.nan
            best = max(best, excess / g)
    return float(best)


def diagnose(
    losses: Sequence[float] | np.ndarray,
    *,
    batch_size: int,
    n_train: int,
    window: int | None = None,
    nu: float = math.nan,
    chance: float = LN10,
) -> Diagnostics:
    """Diagnostics of a constant-learning-rate run from its per-step losses.

    ``window`` (for ``final`` and ``plateau``) defaults to the notes' 1% of the horizon
    (``len(losses)``); the shape diagnostics always use :func:`shape_window`. ``nu`` is the
    run's :func:`noise_share` against the Stepwise-at-75% run of the same seed (NaN: not
    measured, and then not in the regime). ``chance`` is the loss of a uniform prediction
    (the notes' ten classes: ``ln 10``), the unit of ``final`` and the level of ``plateau``.
    """
    a = np.asarray(losses, np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"losses must be a non-empty 1-D array, got shape {a.shape}")
    v.check_int("batch_size", batch_size, minimum=1)
    v.check_int("n_train", n_train, minimum=1)
    v.check_positive("chance", chance)
    w = smoothing_window(a.size) if window is None else window
    v.check_int("window", w, minimum=1)
    ws = shape_window(a.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = {p: loss_ratio(a, p, ws) for p in RATIO_POINTS}
        fall = late_fall(a, ws)
    return Diagnostics(
        final=smoothed_at(a, a.size, w) / chance,
        epochs=a.size * batch_size / n_train,
        plateau=plateau_fraction(a, w, chance),
        ratio_25=ratios[0.25],
        ratio_50=ratios[0.50],
        ratio_75=ratios[0.75],
        late_fall=fall,
        step=step_score(a, ws),
        nu=float(nu),
    )


def in_regime(d: Diagnostics) -> bool:
    """Every diagnostic inside its band."""
    return all(d.held().values())


def drop_gain(constant: np.ndarray, dropped: np.ndarray) -> float:
    """The share of the constant run's loss that a 10x learning-rate drop removes at once.

    ``1 - L_drop(t) / L_const(t)`` at ``t`` = 80% of the horizon, one shape window (5%) after
    the drop at 75%, both the mean per-step loss over that window. It measures how much of the
    loss at that point is learning-rate noise, the part any decay removes, as against learning
    still to be done, which a lower rate slows. The bands above describe the constant run's own
    shape and cannot see it; this needs a second run (the chapter's *Stepwise at 75%*, which
    equals the constant run up to the drop), so it is reported beside the bands, not banded.
    The notes' value is :data:`NOTES_DROP_GAIN`.

    >>> const = np.full(1000, 0.5)
    >>> dropped = np.r_[np.full(750, 0.5), np.full(250, 0.2)]
    >>> round(drop_gain(const, dropped), 2)
    0.6
    """
    a, b = (np.asarray(x, np.float64) for x in (constant, dropped))
    if a.size != b.size:
        raise ValueError(f"the two runs must have one horizon, got {a.size} and {b.size} steps")
    end = _at(a, DROP_AT + SHAPE_FRACTION)
    w = shape_window(a.size)
    return float(1.0 - smoothed_at(b, end, w) / smoothed_at(a, end, w))


NOTES_DROP_GAIN = float(
    1.0 - notes_curves.smoothed(DROPPED, DROP_AT + SHAPE_FRACTION, SHAPE_FRACTION)
    / notes_curves.smoothed(alchemist.CONSTANT, DROP_AT + SHAPE_FRACTION, SHAPE_FRACTION)
)
""":func:`drop_gain` on the notes' CIFAR-10 curves."""

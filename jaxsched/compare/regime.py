"""The regime check of a comparison: does any schedule beat a constant learning rate here?

A comparison ranks cooldowns only where a cooldown pays. Where the loss at the end of a run is
limited by progress (far from the floor the gradient noise sets), every decay of the learning
rate loses to holding it, the scheduled envelopes end above tuned constant, and "schedule-free
is below tuned cosine" then says nothing about schedule-free against a schedule that works.
Every REPORT therefore opens with this check, and :meth:`Results.regime` gives it for any task.

The rule (a grid with the ``constant`` candidate and at least one scheduled candidate):

* **Tuned results.** For a candidate ``S`` and a horizon ``T``, :meth:`Results.envelope`'s
  entry: the learning rate whose mean final loss over seeds is lowest (every seed finished),
  its mean ``L_S(T)`` and its sample standard deviation over seeds ``s_S(T)`` (``ddof=1``).
  Scheduled candidates are tuned per horizon; ``constant`` too (its one run per learning rate
  evaluated at ``T``).
* **Cooldown gain** of a scheduled candidate at ``T``: ``g_S(T) = 1 − L_S(T) / L_c(T)``, ``c``
  the ``constant`` candidate; positive when ``S`` ends below constant.
* **Its spread**: ``σ_S(T) = sqrt(s_S(T)² + s_c(T)²) / L_c(T)``, the combined standard
  deviation of the two envelopes over seeds in the gain's units, so that ``g_S > σ_S`` is
  exactly the spread rule of every verdict in jaxsched (:func:`jaxsched.stats.below`).
* **The grid's cooldown gain** at ``T``, ``g(T) ± σ(T)``, is that of the best scheduled
  candidate at ``T``: the one with the lowest ``L_S(T)``.
* **Verdict.** At the longest horizon ``T_max``: ``g(T_max) > σ(T_max)`` — the best tuned
  schedule ends below tuned constant by more than the seeds' spread — and the grid *ranks
  cooldowns*; otherwise it is **progress-limited**: no schedule beats constant here, and the
  verdicts of the anytime candidates against the envelopes do not rank cooldowns (the REPORT
  says so in its first lines and marks every verdict). With one seed there is no spread and
  the test is ``g(T_max) > 0``. Without a ``constant`` or a scheduled candidate, or without a
  tuned result of either at ``T_max`` (every learning rate lost a seed), the regime is *not
  checked*, and the REPORT says that too.
* **The time-to-target target** must lie below the tuned constant loss ``L_c(T_max)``: a target
  at or above it is reached by a constant learning rate with no cooldown at all, so the times
  to reach it rank progress, not schedules. The target is never moved to make it so (it is
  the question asked: the default, tuned cosine's ``L(T_max)``, or the user's ``--target``);
  when it is not below, :attr:`Regime.target_below_constant` is ``False`` and the REPORT says
  so beside the check and above the time-to-target table.

>>> from jaxsched.compare import experiment
>>> from jaxsched.compare.candidates import resolve
>>> rows = [dict(candidate=c, lr=0.1, horizon=10, seed=s, step=10, loss=x + 0.01 * s)
...         for c, x in (("cosine", 0.8), ("constant", 1.0)) for s in range(3)]
>>> res = experiment.Results(rows, resolve(["cosine", "constant"]), (0.1,), (10,), 3)
>>> r = res.regime()
>>> r.status, round(r.gain, 3), r.progress_limited
('ranks cooldowns', 0.198, False)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["CONSTANT", "NOT_CHECKED", "PROGRESS_LIMITED", "PROGRESS_LIMITED_LINE", "RANKS",
           "Regime", "check", "gain_cells"]

CONSTANT = "constant"
"""The candidate whose tuned envelope every schedule is measured against."""

RANKS = "ranks cooldowns"
PROGRESS_LIMITED = "progress-limited"
NOT_CHECKED = "not checked"

PROGRESS_LIMITED_LINE = ("progress-limited: no schedule beats constant here, so the verdicts "
                         "below do not rank cooldowns")
"""The first line of a progress-limited REPORT."""


@dataclasses.dataclass(frozen=True)
class Regime:
    """The regime check of a comparison's results (the module docstring's rule).

    Attributes:
      status: :data:`RANKS`, :data:`PROGRESS_LIMITED` or :data:`NOT_CHECKED`.
      longest: the longest horizon, where the verdict is taken.
      per_horizon: per horizon, ascending: ``horizon``, ``best`` (the best scheduled
        candidate there, ``None`` when none has a tuned result), ``gain``, ``spread`` (both
        fractions, ``None`` where not computed), ``above`` (``gain > spread``; one seed:
        ``gain > 0``), ``constant`` (``L_c``), and ``gains``: ``{scheduled candidate:
        (gain, spread)}`` for every scheduled candidate with a tuned result there.
      reason: why the regime was not checked (``""`` otherwise).
      target: the time-to-target target, ``None`` when none was measured.
      constant_loss: ``L_c(T_max)``, ``None`` without it.
      target_below_constant: ``target < L_c(T_max)``; ``None`` when either is missing.
      seeds: seeds per configuration (one: no spread, the test is ``gain > 0``).
    """

    status: str
    longest: int
    per_horizon: tuple[dict[str, Any], ...]
    reason: str = ""
    target: float | None = None
    constant_loss: float | None = None
    target_below_constant: bool | None = None
    seeds: int = 1

    @property
    def progress_limited(self) -> bool | None:
        """``True`` when progress-limited, ``False`` when the grid ranks cooldowns, ``None``
        when not checked."""
        return None if self.status == NOT_CHECKED else self.status == PROGRESS_LIMITED

    def _at_longest(self) -> dict[str, Any]:
        return next(p for p in self.per_horizon if p["horizon"] == self.longest)

    @property
    def gain(self) -> float | None:
        """The grid's cooldown gain ``g(T_max)`` (a fraction)."""
        return self._at_longest()["gain"]

    @property
    def spread(self) -> float | None:
        """Its spread ``σ(T_max)`` (a fraction)."""
        return self._at_longest()["spread"]

    def headline(self) -> str:
        """The REPORT's first line: the verdict and the figure it rests on."""
        if self.status == NOT_CHECKED:
            return (f"regime not checked: {self.reason}; the verdicts below may not rank "
                    "cooldowns")
        p = self._at_longest()
        pct = f"{100 * abs(p['gain']):.1f}"
        where = ("level with" if float(pct) == 0 else
                 "below" if p["gain"] > 0 else "above")
        spread = (f"± {100 * p['spread']:.1f}% over seeds" if self.seeds > 1 else
                  "one seed, no spread")
        figure = (f"at T={self.longest} the best tuned schedule, {p['best']}, ends "
                  + (f"{pct}% " if where != "level with" else "") + f"{where} tuned constant, "
                  f"{spread}")
        if self.status == PROGRESS_LIMITED:
            return f"{PROGRESS_LIMITED_LINE}: {figure}"
        return f"cooldowns matter here: {figure}; so the verdicts below rank cooldowns"

    def target_line(self) -> str | None:
        """What the target is against ``L_c(T_max)``; ``None`` when either is missing."""
        if self.target_below_constant is None:
            return None
        where = (f"the target {self.target:.4g} is {{}} the tuned constant loss "
                 f"{self.constant_loss:.4g} at T={self.longest}")
        if self.target_below_constant:
            return where.format("below")
        return (where.format("**not below**") + ": constant reaches it with no cooldown, so "
                "the times to target rank progress, not schedules")

    def mark(self) -> str:
        """The mark a verdict carries (``""`` when the grid ranks cooldowns)."""
        return {RANKS: "", PROGRESS_LIMITED: "progress-limited",
                NOT_CHECKED: "regime not checked"}[self.status]

    def to_dict(self) -> dict[str, Any]:
        """As JSON (``regime.json``)."""
        d = dataclasses.asdict(self)
        d["per_horizon"] = [{**p, "gains": {k: list(x) for k, x in p["gains"].items()}}
                            for p in self.per_horizon]
        d["progress_limited"] = self.progress_limited
        d["headline"] = self.headline()
        return d


def _gain(sched: dict[str, Any], const: dict[str, Any]) -> tuple[float, float]:
    scale = const["mean"]
    return 1.0 - sched["mean"] / scale, math.hypot(sched["std"], const["std"]) / scale


def check(res, *, metric: str = "loss", constant: str = CONSTANT) -> Regime:
    """The regime check of ``res`` (:class:`~jaxsched.compare.experiment.Results`).

    ``metric`` must be a loss (lower is better, positive); ``constant`` names the candidate
    every schedule is measured against.
    """
    names = [c.name for c in res.candidates]
    scheduled = [c.name for c in res.candidates if not c.anytime]
    longest = max(res.horizons)
    env = {(e["candidate"], e["horizon"]): e for e in res.envelope(metric)}
    per: list[dict[str, Any]] = []
    for h in sorted(res.horizons):
        c = env.get((constant, h))
        gains: dict[str, tuple[float, float]] = {}
        best = None
        if c is not None and c["mean"] > 0:
            for s in scheduled:
                e = env.get((s, h))
                if e is None:
                    continue
                gains[s] = _gain(e, c)
                if best is None or e["mean"] < env[(best, h)]["mean"]:
                    best = s
        gain: float | None = None
        spread: float | None = None
        above: bool | None = None
        if best is not None:
            gain, spread = gains[best]
            above = gain > spread if res.seeds > 1 else gain > 0
        per.append({"horizon": h, "best": best, "gain": gain, "spread": spread,
                    "above": above, "constant": None if c is None else c["mean"],
                    "gains": gains})
    last = per[-1]
    reason = ""
    if constant not in names:
        reason = f"the grid has no `{constant}` candidate to measure schedules against"
    elif not scheduled:
        reason = "the grid has no scheduled candidate"
    elif last["constant"] is None:
        reason = f"`{constant}` has no tuned result at T={longest} (a seed lost every lr)"
    elif last["constant"] <= 0:
        reason = f"`{metric}` of `{constant}` is not positive, so no relative gain exists"
    elif last["best"] is None:
        reason = f"no scheduled candidate has a tuned result at T={longest}"
    status = NOT_CHECKED if reason else (RANKS if last["above"] else PROGRESS_LIMITED)
    target = getattr(res, "target", None)
    below = None
    if target is not None and last["constant"] is not None:
        below = bool(target < last["constant"])
    return Regime(status, longest, tuple(per), reason, target, last["constant"], below,
                  int(res.seeds))


def gain_cells(regime: Regime, horizons: Sequence[int], name: str | None) -> list[str]:
    """Table cells ``+g% ± σ%`` per horizon of one scheduled candidate (``None``: the best)."""
    by_h = {p["horizon"]: p for p in regime.per_horizon}
    cells = []
    for h in horizons:
        p = by_h[h]
        if name is None:
            if p["gain"] is None:
                cells.append("n/a")
                continue
            g, s, label = p["gain"], p["spread"], f"{p['best']} "
        elif name in p["gains"]:
            (g, s), label = p["gains"][name], ""
        else:
            cells.append("n/a")
            continue
        mark = "" if (g > s if regime.seeds > 1 else g > 0) else " (not above)"
        spread = f" ± {100 * s:.1f}%" if regime.seeds > 1 else ""
        # + 0.0 turns a rounded -0.0 into 0.0: a gain that rounds to nothing has no sign
        cells.append(f"{label}{round(100 * g, 1) + 0.0:+.1f}%{spread}{mark}")
    return cells

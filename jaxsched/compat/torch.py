"""JAX twins of ``torch.optim.lr_scheduler``: one function per scheduler class.

Each function takes the scheduler's arguments (torch's names; the optimizer's learning rate is
``lr``, or ``base_lr`` / ``max_lr`` where torch has them) and returns a schedule ``f`` such that
``f(t)`` equals ``optimizer.param_groups[0]["lr"]`` after ``t`` calls of ``scheduler.step()``
(``t = 0``: right after the scheduler was built), to float32 precision. That includes what
torch's recursive ("chainable") updates actually produce, e.g. ``CosineAnnealingLR`` climbing
back up after ``T_max``, ``ConstantLR(total_iters=0)`` never undoing its factor, and the way
``SequentialLR`` re-enters a scheduler at a milestone.

A schedule accepts a Python int, a NumPy integer or an integer JAX array of any shape (traced
under ``jit``/``vmap``/``scan``; negative steps count as 0) and returns float32 of the step's
shape. Float hyperparameters may be JAX arrays (``vmap`` over ``lr``, ``gamma``, ...), lengths
may be traced integers; structural arguments (milestones, modes, ``T_mult``, callables) are static.
Concrete hyperparameters are validated: ``ValueError`` naming the argument and the value.

Arithmetic runs in float32 with integer step arithmetic in int32, and the numerically delicate
parts are arranged so float32 keeps up with torch's float64: ``gamma ** t`` is evaluated as
``exp(t * log(gamma))`` with the log taken in float64 when ``gamma`` is concrete (so ``gamma``
close to 1 over long horizons stays accurate), and ``1 + cos(pi * t / T)`` is evaluated as
``2 * sin(pi * u / (2 T))**2`` with an exactly reduced integer ``u`` (accurate near its zeros).

Example::

    from jaxsched.compat import torch as tc

    sched = tc.cosine_annealing_lr(lr=0.1, T_max=100)
    sched(0), sched(100), sched(150)     # 0.1, 0.0, 0.05 (torch's curve climbs back after T_max)
    warm = tc.sequential_lr([tc.linear_lr(0.1, start_factor=0.1, total_iters=10), sched], [10])
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxsched import _validate as v
from jaxsched._validate import concrete
from jaxsched.compat._steps import integer_steps as _steps
from jaxsched.compat._steps import length as _length
from jaxsched.schedules import registry
from jaxsched.schedules.plateau import Plateau, PlateauState, reduce_on_plateau

Array = jax.Array
ArrayLike = jax.typing.ArrayLike
Scalar = ArrayLike

_F32 = jnp.float32
_I32 = jnp.int32
_INT32_MAX = np.iinfo(np.int32).max

__all__ = [
    "TorchSchedule",
    "ReduceLROnPlateau",
    "ReduceLROnPlateauState",
    "step_lr",
    "multi_step_lr",
    "exponential_lr",
    "cosine_annealing_lr",
    "cosine_annealing_warm_restarts",
    "cyclic_lr",
    "one_cycle_lr",
    "polynomial_lr",
    "linear_lr",
    "constant_lr",
    "lambda_lr",
    "multiplicative_lr",
    "sequential_lr",
    "chained_scheduler",
    "reduce_lr_on_plateau",
]


# ---------------------------------------------------------------------------------------------
# plumbing


def _f32(x: Any) -> Array:
    return jnp.asarray(x, dtype=_F32)


def _finish(value: Any, t: Array) -> Array:
    value = _f32(value)
    return jnp.broadcast_to(value, jnp.broadcast_shapes(value.shape, t.shape))


def _safe(x: Array) -> Array:
    """A denominator for a ``where`` branch that is discarded where ``x == 0``."""
    return jnp.where(x == 0, jnp.ones_like(x), x)


def _static_int(name: str, value: Any, minimum: int) -> int:
    v.check_int(name, value, minimum=minimum)
    return int(value)


def _gamma_pow(gamma: Any, n: Array) -> Array:
    """``gamma ** n`` for an integer array ``n >= 0``, with ``log(gamma)`` in float64 when known.

    float32 ``gamma`` is off by up to 3e-8 relative; raised to the 10_000th power that is 3e-4.
    Taking the log on the host in float64 leaves only the float32 rounding of the exponent.
    """
    g = concrete(gamma)
    nf = n.astype(_F32)
    if g is None:
        return jnp.power(_f32(gamma), nf)
    with np.errstate(divide="ignore"):
        log_g = np.log(g.astype(np.float64))
    # n * log(0) is nan at n == 0: 0 ** 0 == 1, as in Python.
    return jnp.where(n == 0, _f32(1.0), jnp.exp(nf * _f32(log_g)))


def _pow(x: Array, p: Any) -> Array:
    """``x ** p`` for ``x >= 0``; exact repeated multiplication for a small concrete integer p."""
    c = concrete(p)
    if c is not None and c.ndim == 0 and float(c).is_integer() and 0 <= float(c) <= 16:
        return x ** int(c)
    return jnp.power(x, _f32(p))


def _cos2(k: Array, period: Any) -> Array:
    """``(1 + cos(pi * k / T)) / 2 = cos(pi * k / (2 T))**2`` for integer ``k`` and ``T``.

    Written as ``sin(pi * u / (2 T))**2`` with ``u = (k mod 2T) - T`` reduced exactly in int32,
    so the value keeps its relative precision next to the zeros at ``k = T, 3T, ...``: the
    recursions in torch divide by this quantity, and so do the chained forms below.
    """
    two_t = 2 * period
    u = jnp.mod(k, two_t) - period
    x = u.astype(_F32) / _f32(period) * _f32(math.pi / 2)
    return jnp.sin(x) ** 2


def _call_lambda(fn: Callable[[Array], ArrayLike], x: Array) -> Array:
    """``fn`` at every element of ``x`` as float32 of ``x``'s shape.

    A scalar is passed as is; an array is ``vmap``-ped over, so a callable written for one step
    (``lax.cond``, ``jnp.where`` on scalars, a constant) works on any array of steps.
    """
    if x.ndim == 0:
        return jnp.broadcast_to(_f32(fn(x)), ())
    flat = jax.vmap(lambda s: jnp.broadcast_to(_f32(fn(s)), ()))(x.reshape(-1))
    return flat.reshape(x.shape)


def _lambda_prod(fn: Callable[[Array], ArrayLike], lo: Array, hi: Array) -> Array:
    """``prod_{lo < k <= hi} fn(k)`` elementwise (1 where ``hi <= lo``), in float32.

    With concrete bounds sharing one ``lo`` the factors are evaluated once as a vector and
    multiplied by ``cumprod``; otherwise (traced steps) each element runs a ``while_loop`` of
    ``hi - lo`` iterations, exact but O(t): see ``multiplicative_lr(max_steps=...)``.
    """
    lo, hi = jnp.broadcast_arrays(jnp.asarray(lo, _I32), jnp.asarray(hi, _I32))
    clo, chi = concrete(lo), concrete(hi)
    if clo is not None and chi is not None and (clo.size == 0 or np.all(clo == clo.flat[0])):
        if clo.size == 0:
            return jnp.ones(lo.shape, _F32)
        a, b = int(clo.flat[0]), int(chi.max())
        if b <= a:
            return jnp.ones(lo.shape, _F32)
        ks = jnp.arange(a + 1, b + 1, dtype=_I32)
        cum = jnp.concatenate([jnp.ones((1,), _F32), jnp.cumprod(_call_lambda(fn, ks))])
        return cum[jnp.clip(hi - a, 0, b - a)]

    def one(lo_s: Array, hi_s: Array) -> Array:
        def cond(carry: tuple[Array, Array]) -> Array:
            return carry[0] <= hi_s

        def body(carry: tuple[Array, Array]) -> tuple[Array, Array]:
            k, acc = carry
            return k + 1, acc * _call_lambda(fn, k)

        return lax.while_loop(cond, body, (lo_s + 1, _f32(1.0)))[1]

    flat = jax.vmap(one)(lo.reshape(-1), hi.reshape(-1))
    return flat.reshape(lo.shape)


class _Chain(NamedTuple):
    """How one scheduler's ``step()`` acts on the optimizer's lr, for ``ChainedScheduler``.

    Every torch step is an affine map of the current lr. Most multiply it by a factor; some
    overwrite it (LambdaLR, CyclicLR, ... at every step; CosineAnnealingLR with ``eta_min = 0``
    at its zeros ``T, 3T, ...``, where the factor is 0); and CosineAnnealingLR adds
    ``lr * (1 - cos(pi / T)) / 2`` at the step after each zero.

    ratio(k0, t): the product of its factors over steps ``(k0, t]`` (no overwrite or addition
        in between); ``k0 = -1`` includes the factor applied when the scheduler is built.
    overwrite: ``(overwrites, written)``, or ``None`` for a scheduler that never overwrites:
        overwrites(t) is the last step ``<= t`` at which the scheduler overwrites the lr, or -1;
        written(k) the value it writes at such a step ``k``.
    add: ``(adds, added)``, or ``None`` for a scheduler that never adds: adds(k) is whether
        its step ``k`` adds instead of multiplying; added(k) the amount it adds at such a step.
    """

    ratio: Callable[[Array, Array], Array]
    overwrite: tuple[Callable[[Array], Array], Callable[[Array], Array]] | None = None
    add: tuple[Callable[[Array], Array], Callable[[Array], Array]] | None = None


class TorchSchedule:
    """A schedule ``step -> lr`` mirroring one torch scheduler (what every function here returns).

    Calling it evaluates the learning rate; the extra information it carries lets
    :func:`sequential_lr` and :func:`chained_scheduler` reproduce how torch composes schedulers.
    """

    # __weakref__: jax.jit keeps a weak reference to the function it compiles
    __slots__ = (
        "name",
        "base_lr",
        "_fn",
        "_entry",
        "_chain",
        "_chain_error",
        "_members",
        "__weakref__",
    )

    def __init__(
        self,
        name: str,
        fn: Callable[[Array], Array],
        *,
        base_lr: Any = None,
        entry: Callable[[Array, Callable[[], Array]], Array] | None = None,
        chain: _Chain | None = None,
        chain_error: str | None = None,
        members: list[TorchSchedule] | None = None,
    ) -> None:
        self.name = name
        self.base_lr = base_lr
        self._fn = fn
        self._entry = entry
        self._chain = chain
        self._chain_error = chain_error
        self._members = members

    def __call__(self, step: ArrayLike) -> Array:
        t = _steps(step)
        return _finish(self._fn(t), t)

    def _at_milestone(self, j: Array, prev_lr: Callable[[], Array]) -> Array:
        """The lr ``j`` steps after SequentialLR switched to this scheduler at a milestone.

        ``prev_lr()`` gives the lr just before the milestone (only MultiplicativeLR uses it).
        """
        if self._entry is None:
            return self._fn(j)
        return self._entry(j, prev_lr)

    def __repr__(self) -> str:
        return f"TorchSchedule({self.name})"


def _mult_chain(ratio: Callable[[Array, Array], Array]) -> _Chain:
    return _Chain(ratio=ratio)


def _abs_chain(fn: Callable[[Array], Array]) -> _Chain:
    """A scheduler whose every ``step()`` overwrites the lr (LambdaLR, CyclicLR, ...)."""
    return _Chain(
        ratio=lambda k0, t: jnp.ones(jnp.broadcast_shapes(k0.shape, t.shape), _F32),
        overwrite=(lambda t: t, fn),
    )


# ---------------------------------------------------------------------------------------------
# closed-form schedulers


def step_lr(lr: Scalar, step_size: ArrayLike, gamma: Scalar = 0.1) -> TorchSchedule:
    """``StepLR``: ``lr * gamma ** (t // step_size)``.

    Example::

        step_lr(0.1, step_size=30, gamma=0.1)(65)  # 0.001
    """
    v.check_nonnegative("lr", lr)
    size = _length("step_size", step_size, 1)
    v.check_nonnegative("gamma", gamma)
    lr_f = _f32(lr)

    def count(k: Array) -> Array:
        return jnp.maximum(k, 0) // size

    def fn(t: Array) -> Array:
        return lr_f * _gamma_pow(gamma, count(t))

    def ratio(k0: Array, t: Array) -> Array:
        return _gamma_pow(gamma, count(t) - count(k0))

    return TorchSchedule("step_lr", fn, base_lr=lr, chain=_mult_chain(ratio))


def multi_step_lr(lr: Scalar, milestones: Sequence[int], gamma: Scalar = 0.1) -> TorchSchedule:
    """``MultiStepLR``: ``lr * gamma ** (number of milestones <= t)``.

    ``milestones`` must be non-decreasing non-negative integers; a repeated milestone decays
    twice, as with torch's ``Counter``.

    Example::

        multi_step_lr(0.1, milestones=[30, 80], gamma=0.1)(50)  # 0.01
    """
    v.check_nonnegative("lr", lr)
    ms = _milestone_list("milestones", milestones, strict=False)
    v.check_nonnegative("gamma", gamma)
    lr_f = _f32(lr)
    ms_arr = jnp.asarray(ms, dtype=_I32)

    def count(k: Array) -> Array:
        if not ms:
            return jnp.zeros(k.shape, _I32)
        return jnp.sum(k[..., None] >= ms_arr, axis=-1).astype(_I32)

    def fn(t: Array) -> Array:
        return lr_f * _gamma_pow(gamma, count(t))

    def ratio(k0: Array, t: Array) -> Array:
        return _gamma_pow(gamma, count(t) - count(k0))

    return TorchSchedule("multi_step_lr", fn, base_lr=lr, chain=_mult_chain(ratio))


def _milestone_list(name: str, milestones: Any, *, strict: bool) -> list[int]:
    if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
        raise ValueError(f"{name} must be a sequence of integers, got {name}={milestones!r}")
    out = []
    for m in milestones:
        c = concrete(m)
        if (
            isinstance(m, (bool, np.bool_))
            or c is None
            or c.ndim != 0
            or not np.isfinite(c)
            or float(c) != math.floor(float(c))
        ):
            raise ValueError(f"{name} must be a sequence of integers, got {name}={milestones!r}")
        out.append(int(c))
    if any(m < 0 for m in out):
        raise ValueError(f"{name} must be >= 0, got {name}={out}")
    if out:
        v.check_sorted(name, out, strict=strict)
    return out


def exponential_lr(lr: Scalar, gamma: Scalar) -> TorchSchedule:
    """``ExponentialLR``: ``lr * gamma ** t``.

    Example::

        exponential_lr(0.1, gamma=0.9)(2)  # 0.081
    """
    v.check_nonnegative("lr", lr)
    v.check_nonnegative("gamma", gamma)
    lr_f = _f32(lr)

    def fn(t: Array) -> Array:
        return lr_f * _gamma_pow(gamma, t)

    def ratio(k0: Array, t: Array) -> Array:
        return _gamma_pow(gamma, t - jnp.maximum(k0, 0))

    return TorchSchedule("exponential_lr", fn, base_lr=lr, chain=_mult_chain(ratio))


def cosine_annealing_lr(lr: Scalar, T_max: ArrayLike, eta_min: Scalar = 0.0) -> TorchSchedule:
    """``CosineAnnealingLR``: ``eta_min + (lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``.

    This closed form holds for every ``t``, also past ``T_max``: torch's recursive update
    multiplies ``lr - eta_min`` by ``(1 + cos(pi t/T)) / (1 + cos(pi (t-1)/T))``, and at the
    steps right after the odd multiples of ``T_max`` (where that ratio would divide by zero) it
    adds ``(lr - eta_min) * (1 - cos(pi/T)) / 2``; both follow the cosine, so the lr climbs back
    up to ``lr`` at ``2 T_max`` and keeps oscillating with period ``2 T_max``.

    Example::

        sched = cosine_annealing_lr(0.1, T_max=10)
        sched(5), sched(10), sched(15), sched(20)  # 0.05, 0.0, 0.05, 0.1
    """
    v.check_nonnegative("lr", lr)
    T = _length("T_max", T_max, 1)
    v.check_nonnegative("eta_min", eta_min)
    lr_f, eta_f = _f32(lr), _f32(eta_min)

    def fn(t: Array) -> Array:
        return eta_f + (lr_f - eta_f) * _cos2(t, T)

    eta_c = concrete(eta_min)
    chain, chain_error = None, None
    if eta_c is None:
        chain_error = "cosine_annealing_lr needs a concrete eta_min == 0 inside chained_scheduler"
    elif np.any(eta_c != 0):
        chain_error = (
            "cosine_annealing_lr with eta_min != 0 steps the lr by an affine map, which is not "
            "a product of factors; chained_scheduler supports it only with eta_min == 0"
        )
    else:

        def overwrites(t: Array) -> Array:
            # the factor (1 + cos(pi k/T)) / (1 + cos(pi (k-1)/T)) is 0 at k = T, 3T, ...
            last = t - jnp.mod(t - T, 2 * T)
            return jnp.where(t >= T, last, -1)

        def written(k: Array) -> Array:
            return jnp.zeros(k.shape, _F32)

        def ratio(k0: Array, t: Array) -> Array:
            num = _cos2(t, T)
            den = _cos2(jnp.maximum(k0, 0), T)
            r = jnp.where(t == k0, _f32(1.0), num / _safe(den))
            return jnp.where(k0 < 0, num, r)

        def adds(k: Array) -> Array:
            # torch's branch for (k - 1 - T) % (2T) == 0, where the ratio would divide by 0
            return (k >= T + 1) & (jnp.mod(k - 1 - T, 2 * T) == 0)

        def added(k: Array) -> Array:
            return lr_f * _cos2(k, T)  # = lr * (1 - cos(pi / T)) / 2 at those steps

        chain = _Chain(ratio, overwrite=(overwrites, written), add=(adds, added))
    return TorchSchedule(
        "cosine_annealing_lr", fn, base_lr=lr, chain=chain, chain_error=chain_error
    )


def cosine_annealing_warm_restarts(
    lr: Scalar, T_0: ArrayLike, T_mult: int = 1, eta_min: Scalar = 0.0
) -> TorchSchedule:
    """``CosineAnnealingWarmRestarts``: ``eta_min + (lr - eta_min)(1 + cos(pi T_cur / T_i)) / 2``.

    Cycle ``i`` (from 0) lasts ``T_i = T_0 * T_mult**i`` steps and starts at step
    ``T_0 * (T_mult**i - 1) / (T_mult - 1)`` (``i * T_0`` when ``T_mult == 1``); ``T_cur`` counts
    the steps since its start, so the lr jumps back to ``lr`` at every restart.

    Example::

        sched = cosine_annealing_warm_restarts(0.1, T_0=10, T_mult=2)
        sched(9), sched(10), sched(30)  # ~0.0024, 0.1 (restart), 0.1 (restart)
    """
    v.check_nonnegative("lr", lr)
    t0 = _length("T_0", T_0, 1)
    mult = _static_int("T_mult", T_mult, 1)
    v.check_nonnegative("eta_min", eta_min)
    lr_f, eta_f = _f32(lr), _f32(eta_min)

    if mult == 1:

        def cycle(t: Array) -> tuple[Array, Array]:
            return jnp.mod(t, t0), jnp.broadcast_to(_f32(t0), t.shape)

    else:
        # Restart n begins at T_0 * G_n, G_n = (T_mult**n - 1) / (T_mult - 1); list G_n (n >= 1)
        # up to int32 range, guarding T_0 * G_n against overflow when T_0 is traced.
        geo = []
        g, n = 1, 1
        while g <= _INT32_MAX:
            geo.append(g)
            g += mult**n
            n += 1
        if isinstance(t0, int):
            starts_np = np.minimum(np.asarray(geo, np.int64) * t0, _INT32_MAX)
            starts = jnp.asarray(np.concatenate([[0], starts_np]), dtype=_I32)
        else:
            geo_arr = jnp.asarray(geo, dtype=_I32)
            starts = jnp.where(geo_arr > _INT32_MAX // t0, _INT32_MAX, geo_arr * t0)
            starts = jnp.concatenate([jnp.zeros((1,), _I32), starts])
        powers = _f32([float(mult) ** i for i in range(len(geo) + 1)])

        def cycle(t: Array) -> tuple[Array, Array]:
            idx = jnp.searchsorted(starts, t, side="right") - 1
            t_cur = t - starts[idx]
            t_i = _f32(t0) * powers[idx]
            return t_cur, t_i

    def fn(t: Array) -> Array:
        t_cur, t_i = cycle(t)
        # sin form keeps precision at the end of a long cycle
        x = (t_i - t_cur.astype(_F32)) / t_i * _f32(math.pi / 2)
        return eta_f + (lr_f - eta_f) * jnp.sin(x) ** 2

    return TorchSchedule("cosine_annealing_warm_restarts", fn, base_lr=lr, chain=_abs_chain(fn))


def cyclic_lr(
    base_lr: Scalar,
    max_lr: Scalar,
    step_size_up: ArrayLike = 2000,
    step_size_down: ArrayLike | None = None,
    mode: str = "triangular",
    gamma: Scalar = 1.0,
    scale_fn: Callable[[Array], ArrayLike] | None = None,
    scale_mode: str = "cycle",
) -> TorchSchedule:
    """``CyclicLR``: ``base_lr + (max_lr - base_lr) * tri(t) * scale``.

    A cycle is ``step_size_up + step_size_down`` steps; ``tri`` rises linearly from 0 to 1 over
    ``step_size_up`` steps and falls back over ``step_size_down`` (default: ``step_size_up``).
    ``scale`` is 1 (``"triangular"``), ``1 / 2**(cycle - 1)`` (``"triangular2"``, ``cycle``
    counted from 1) or ``gamma ** t`` (``"exp_range"``). A custom ``scale_fn`` replaces the mode
    and is called with the float32 cycle number (``scale_mode="cycle"``) or with ``t``
    (``scale_mode="iterations"``); it must be jnp-traceable and elementwise. Momentum cycling
    does not affect the lr and is left to the optimizer.

    Example::

        sched = cyclic_lr(0.01, 0.1, step_size_up=4)
        sched(0), sched(2), sched(4), sched(8)  # 0.01, 0.055, 0.1, 0.01
    """
    v.check_nonnegative("base_lr", base_lr)
    v.check_nonnegative("max_lr", max_lr)
    v.check_le("base_lr", base_lr, "max_lr", max_lr)
    v.check_choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    v.check_choice("scale_mode", scale_mode, ("cycle", "iterations"))
    v.check_nonnegative("gamma", gamma)
    if scale_fn is not None and not callable(scale_fn):
        raise ValueError(f"scale_fn must be callable or None, got scale_fn={scale_fn!r}")
    v.check_positive("step_size_up", step_size_up)
    down_arg = step_size_up if step_size_down is None else step_size_down
    v.check_nonnegative("step_size_down", down_arg)
    up_c, down_c = concrete(step_size_up), concrete(down_arg)
    # (up, down) when both are concrete whole numbers: the cycle is then found in int32
    integral: tuple[int, int] | None = None
    if (
        up_c is not None
        and down_c is not None
        and up_c.ndim == 0
        and down_c.ndim == 0
        and float(up_c).is_integer()
        and float(down_c).is_integer()
    ):
        integral = (int(up_c), int(down_c))
    base_f, max_f = _f32(base_lr), _f32(max_lr)

    if scale_fn is None:
        # torch ties the scale mode to the built-in mode
        scale_mode = "iterations" if mode == "exp_range" else "cycle"

    def scale(cycle: Array, t: Array) -> Array:
        if scale_fn is not None:
            x = cycle if scale_mode == "cycle" else t.astype(_F32)
            return _call_lambda(scale_fn, x)
        if mode == "triangular":
            return _f32(1.0)
        if mode == "triangular2":
            return jnp.ldexp(_f32(1.0), -(cycle.astype(_I32) - 1))
        return _gamma_pow(gamma, t)

    def fn(t: Array) -> Array:
        if integral is not None:
            up, down = integral
            total = up + down
            cyc = t // total
            r = (t - cyc * total).astype(_F32)
            up_f, down_f, total_f = _f32(up), _f32(down), _f32(total)
            cycle = (cyc + 1).astype(_F32)
        else:
            up_f, down_f = _f32(step_size_up), _f32(down_arg)
            total_f = up_f + down_f
            tf = t.astype(_F32)
            cyc = jnp.floor(tf / total_f)
            r = tf - cyc * total_f
            # float32 division can land one cycle off next to a boundary
            cyc = jnp.where(r < 0, cyc - 1, jnp.where(r >= total_f, cyc + 1, cyc))
            r = tf - cyc * total_f
            cycle = cyc + 1
        rising = r <= up_f
        tri = jnp.where(rising, r / up_f, (total_f - r) / _safe(down_f))
        return base_f + (max_f - base_f) * tri * scale(cycle, t)

    return TorchSchedule("cyclic_lr", fn, base_lr=None, chain=_abs_chain(fn))


def one_cycle_lr(
    max_lr: Scalar,
    total_steps: ArrayLike,
    pct_start: Scalar = 0.3,
    anneal_strategy: str = "cos",
    div_factor: Scalar = 25.0,
    final_div_factor: Scalar = 1e4,
    three_phase: bool = False,
) -> TorchSchedule:
    """``OneCycleLR``: warm up from ``max_lr / div_factor`` to ``max_lr``, then anneal down.

    With ``initial = max_lr / div_factor`` and ``min = initial / final_div_factor``, the phases
    end at steps ``pct_start * total_steps - 1`` and ``total_steps - 1`` (two phases:
    initial -> max -> min), or ``pct_start * total_steps - 1``, ``2 * pct_start * total_steps - 2``
    and ``total_steps - 1`` (``three_phase``: initial -> max -> initial -> min). Within a phase,
    ``pct = (t - start) / (end - start)`` and the lr is ``end + (start - end)(1 + cos(pi pct))/2``
    (``"cos"``) or ``start + (end - start) pct`` (``"linear"``).

    ``t`` counts from 0 (``f(0) = initial``). torch allows exactly ``total_steps`` calls of
    ``step()`` (at ``t = total_steps`` its formula runs slightly past the last phase, and this
    reproduces that value) and raises after; a traced step cannot raise, so for
    ``t > total_steps`` the schedule holds the end value ``min``.

    Example::

        sched = one_cycle_lr(max_lr=0.1, total_steps=100)
        sched(0), sched(29), sched(99)  # 0.004, 0.1, 4e-7
    """
    v.check_nonnegative("max_lr", max_lr)
    T = _length("total_steps", total_steps, 1)
    v.check_in_range("pct_start", pct_start, 0.0, 1.0)
    v.check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
    v.check_positive("div_factor", div_factor)
    v.check_positive("final_div_factor", final_div_factor)
    v.check_bool("three_phase", three_phase)

    cm, cdiv, cfin = concrete(max_lr), concrete(div_factor), concrete(final_div_factor)
    if cm is not None and cdiv is not None and cfin is not None:
        initial64 = cm.astype(np.float64) / cdiv
        initial, low = _f32(initial64), _f32(initial64 / cfin)
    else:
        initial = _f32(max_lr) / _f32(div_factor)
        low = initial / _f32(final_div_factor)
    peak = _f32(max_lr)

    cp, ct = concrete(pct_start), concrete(T)
    if cp is not None and ct is not None and cp.ndim == 0 and ct.ndim == 0:
        # torch's phase boundaries in float64; t <= end <=> t <= floor(end) for integer t.
        p64, t64 = float(cp), int(ct)
        ends64 = [float(p64 * t64) - 1]
        if three_phase:
            ends64.append(float(2 * p64 * t64) - 2)
        ends64.append(float(t64 - 1))
        ends = [_f32(e) for e in ends64]
        cut = [math.floor(e) for e in ends64]

        def select(i: int, t: Array) -> Array:
            return t <= cut[i]

    else:
        pf, tf_ = _f32(pct_start), _f32(T)
        ends = [pf * tf_ - 1]
        if three_phase:
            ends.append(2 * pf * tf_ - 2)
        ends.append(tf_ - 1)

        def select(i: int, t: Array) -> Array:
            return t.astype(_F32) <= ends[i]

    values = (
        [(initial, peak), (peak, initial), (initial, low)]
        if three_phase
        else [
            (initial, peak),
            (peak, low),
        ]
    )

    def anneal(start: Array, end: Array, pct: Array) -> Array:
        if anneal_strategy == "cos":
            return end + (start - end) * jnp.cos(_f32(math.pi / 2) * pct) ** 2
        return (end - start) * pct + start

    def fn(t: Array) -> Array:
        tf = t.astype(_F32)

        def phase(i: int) -> Array:
            start_step = _f32(0.0) if i == 0 else ends[i - 1]
            span = ends[i] - start_step
            pct = (tf - start_step) / _safe(span)
            return anneal(values[i][0], values[i][1], pct)

        last = len(ends) - 1
        out = phase(last)
        for i in reversed(range(last)):
            out = jnp.where(select(i, t), phase(i), out)
        return jnp.where(t > T, low, out)

    return TorchSchedule("one_cycle_lr", fn, base_lr=None, chain=_abs_chain(fn))


def polynomial_lr(lr: Scalar, total_iters: ArrayLike = 5, power: Scalar = 1.0) -> TorchSchedule:
    """``PolynomialLR``: ``lr * (1 - min(t, total_iters) / total_iters) ** power``.

    ``total_iters = 0`` leaves the lr at ``lr`` (what torch's recursive steps do).

    Example::

        polynomial_lr(0.1, total_iters=4, power=2.0)(2)  # 0.025
    """
    v.check_nonnegative("lr", lr)
    T = _length("total_iters", total_iters, 0)
    v.check_nonnegative("power", power)
    lr_f = _f32(lr)

    def left(k: Array) -> Array:
        return (T - jnp.minimum(k, T)).astype(_F32)

    def fn(t: Array) -> Array:
        frac = left(t) / _safe(_f32(T))
        return lr_f * jnp.where(T > 0, _pow(frac, power), _f32(1.0))

    def ratio(k0: Array, t: Array) -> Array:
        num, den = left(t), jnp.where(k0 < 0, _f32(T), left(k0))
        r = jnp.where(num == den, _f32(1.0), _pow(num / _safe(den), power))
        return jnp.where(T > 0, r, _f32(1.0))

    return TorchSchedule("polynomial_lr", fn, base_lr=lr, chain=_mult_chain(ratio))


def linear_lr(
    lr: Scalar,
    start_factor: Scalar = 1.0 / 3,
    end_factor: Scalar = 1.0,
    total_iters: ArrayLike = 5,
) -> TorchSchedule:
    """``LinearLR``: ``lr * (s + (e - s) * min(t, total_iters) / total_iters)``.

    ``s = start_factor`` in ``(0, 1]``, ``e = end_factor`` in ``[0, 1]``. With
    ``total_iters = 0`` torch applies ``start_factor`` once and never changes it again.

    Example::

        linear_lr(0.1, start_factor=0.1, total_iters=10)(5)  # 0.055
    """
    v.check_nonnegative("lr", lr)
    v.check_in_range("start_factor", start_factor, 0.0, 1.0, low_inclusive=False)
    v.check_in_range("end_factor", end_factor, 0.0, 1.0)
    T = _length("total_iters", total_iters, 0)
    lr_f, s, e = _f32(lr), _f32(start_factor), _f32(end_factor)

    def factor(k: Array) -> Array:
        done = jnp.minimum(k, T).astype(_F32) / _safe(_f32(T))
        return jnp.where(T > 0, s + (e - s) * done, s)

    def fn(t: Array) -> Array:
        return lr_f * factor(t)

    def ratio(k0: Array, t: Array) -> Array:
        same = (jnp.minimum(t, T) == jnp.minimum(k0, T)) & (k0 >= 0)
        den = jnp.where(k0 < 0, _f32(1.0), factor(jnp.maximum(k0, 0)))
        return jnp.where(same, _f32(1.0), factor(t) / _safe(den))

    return TorchSchedule("linear_lr", fn, base_lr=lr, chain=_mult_chain(ratio))


def constant_lr(lr: Scalar, factor: Scalar = 1.0 / 3, total_iters: ArrayLike = 5) -> TorchSchedule:
    """``ConstantLR``: ``lr * factor`` for ``t < total_iters``, ``lr`` after.

    With ``total_iters = 0`` torch multiplies by ``factor`` at construction and never undoes
    it, so the lr stays ``lr * factor``; as a later piece of :func:`sequential_lr` it enters
    through torch's closed form instead and stays ``lr``.

    Example::

        sched = constant_lr(0.1, factor=0.5, total_iters=3)
        sched(2), sched(3)  # 0.05, 0.1
    """
    v.check_nonnegative("lr", lr)
    v.check_in_range("factor", factor, 0.0, 1.0)
    T = _length("total_iters", total_iters, 0)
    lr_f, fac = _f32(lr), _f32(factor)

    def fn(t: Array) -> Array:
        return lr_f * jnp.where((t < T) | (T == 0), fac, _f32(1.0))

    def entry(j: Array, prev: Callable[[], Array]) -> Array:
        return jnp.where(T == 0, lr_f, fn(j))

    def ratio(k0: Array, t: Array) -> Array:
        applied = (k0 < 0).astype(_I32)  # the factor applied at construction
        undone = ((T > 0) & (k0 < T) & (t >= T)).astype(_I32)
        net = applied - undone
        return jnp.where(net > 0, fac, jnp.where(net < 0, 1.0 / _safe(fac), _f32(1.0)))

    return TorchSchedule("constant_lr", fn, base_lr=lr, entry=entry, chain=_mult_chain(ratio))


def lambda_lr(lr: Scalar, lr_lambda: Callable[[Array], ArrayLike]) -> TorchSchedule:
    """``LambdaLR``: ``lr * lr_lambda(t)``.

    ``lr_lambda`` receives the int32 step array and must be jnp-traceable and elementwise
    (``jnp.where`` instead of ``if``, ``jnp.minimum`` instead of ``min``).

    Example::

        sched = lambda_lr(0.01, lambda e: jnp.minimum(1.0, (e + 1) / 10))
        sched(4)  # 0.005
    """
    v.check_nonnegative("lr", lr)
    if not callable(lr_lambda):
        raise ValueError(f"lr_lambda must be callable, got lr_lambda={lr_lambda!r}")
    lr_f = _f32(lr)

    def fn(t: Array) -> Array:
        return lr_f * _call_lambda(lr_lambda, t)

    return TorchSchedule("lambda_lr", fn, base_lr=lr, chain=_abs_chain(fn))


def multiplicative_lr(
    lr: Scalar, lr_lambda: Callable[[Array], ArrayLike], *, max_steps: int | None = None
) -> TorchSchedule:
    """``MultiplicativeLR``: ``lr * prod_{k=1..t} lr_lambda(k)`` (``lr`` at ``t = 0``).

    ``lr_lambda`` receives int32 steps and must be jnp-traceable and elementwise.
    The product is evaluated as follows:

    * ``max_steps=None`` (default): concrete steps are served from a ``cumprod`` over
      ``1..max(t)``; traced steps (under ``jit``) run a ``while_loop`` of ``t`` iterations per
      element — exact for any ``t`` but O(t) per call.
    * ``max_steps=N``: the factors for ``1..N`` are multiplied once, here, and each call is a
      table lookup (the fast choice inside a compiled training loop). Steps beyond ``N`` raise
      ``ValueError`` when concrete and give NaN when traced.

    In :func:`sequential_lr` a later piece continues from the lr it inherits, multiplied by
    ``lr_lambda(0) * lr_lambda(1) * ...`` as torch's re-entry at the milestone does.

    Example::

        multiplicative_lr(0.1, lambda e: 0.95 + 0.0 * e)(2)  # 0.09025
    """
    v.check_nonnegative("lr", lr)
    if not callable(lr_lambda):
        raise ValueError(f"lr_lambda must be callable, got lr_lambda={lr_lambda!r}")
    lr_f = _f32(lr)
    # (max_steps, the products for t = 0..max_steps followed by NaN), or None without max_steps
    table: tuple[int, Array] | None = None
    if max_steps is not None:
        n = _static_int("max_steps", max_steps, 1)
        ks = jnp.arange(1, n + 1, dtype=_I32)
        table = n, jnp.concatenate(
            [jnp.ones((1,), _F32), jnp.cumprod(_call_lambda(lr_lambda, ks)), _f32([jnp.nan])]
        )

    def cum(t: Array) -> Array:
        """prod_{1 <= k <= t} lr_lambda(k)."""
        if table is None:
            return _lambda_prod(lr_lambda, jnp.zeros_like(t), t)
        last, products = table
        c = concrete(t)
        if c is not None and c.size and int(c.max()) > last:
            raise ValueError(
                f"step must be <= max_steps={max_steps} for this multiplicative_lr, "
                f"got step={int(c.max())}"
            )
        return products[jnp.minimum(t, last + 1)]

    def fn(t: Array) -> Array:
        return lr_f * cum(t)

    def entry(j: Array, prev: Callable[[], Array]) -> Array:
        return prev() * _call_lambda(lr_lambda, jnp.zeros((), _I32)) * cum(j)

    def ratio(k0: Array, t: Array) -> Array:
        c = concrete(k0)
        if c is not None and np.all(c < 0):
            return cum(t)
        return _lambda_prod(lr_lambda, jnp.maximum(k0, 0), t)

    return TorchSchedule("multiplicative_lr", fn, base_lr=lr, entry=entry, chain=_mult_chain(ratio))


# ---------------------------------------------------------------------------------------------
# composition


def _pick_schedules(
    schedules: Any, schedulers: Any, fn_name: str
) -> list[Callable[[ArrayLike], Any]]:
    if (schedules is None) == (schedulers is None):
        raise ValueError(
            f"{fn_name} takes exactly one of schedules / schedulers, got "
            f"schedules={schedules!r} and schedulers={schedulers!r}"
        )
    items = schedules if schedules is not None else schedulers
    name = "schedules" if schedules is not None else "schedulers"
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise ValueError(f"{name} must be a sequence of schedules, got {name}={items!r}")
    items = list(items)
    if not items:
        raise ValueError(f"{name} must hold at least one schedule, got {name}=[]")
    for i, s in enumerate(items):
        if isinstance(s, Plateau):
            raise ValueError(
                f"{name}[{i}] is a reduce_lr_on_plateau state machine, which {fn_name} cannot "
                f"hold (as in torch), got {name}[{i}]={s!r}"
            )
        if not callable(s):
            raise ValueError(f"{name}[{i}] must be a schedule, got {name}[{i}]={s!r}")
    return items


def sequential_lr(
    schedules: Sequence[Callable[[ArrayLike], Array]] | None = None,
    milestones: Sequence[int] | None = None,
    *,
    schedulers: Sequence[Callable[[ArrayLike], Array]] | None = None,
) -> TorchSchedule:
    """``SequentialLR``: switch to ``schedules[i]`` at step ``milestones[i - 1]``.

    For ``m_i <= t < m_{i+1}`` the lr is ``schedules[i]`` restarted at its milestone, i.e. at
    local step ``t - m_i``: torch re-enters the scheduler there through its closed form at epoch
    0 (``_update_lr(0)``) and then steps it normally. For the closed-form schedulers that is the
    scheduler's own curve from its start; the exceptions reproduced here are
    ``constant_lr(total_iters=0)`` (enters at ``lr``, factor never applied) and
    ``multiplicative_lr`` (continues from the lr it inherits, times ``lr_lambda(0)``). The
    scheduler active at step 0 (the first one, or the one a milestone 0 selects) behaves as on
    its own. Pieces keep their own ``lr``; in torch they share the optimizer's, so pass the
    same value to each to mirror it (torch's OneCycleLR rewrites that lr to
    ``max_lr / div_factor`` when it is built, and the other pieces then start from it).
    Plain callables (e.g. optax schedules) are restarted at their milestone. ``schedulers=``
    is accepted as torch's spelling of ``schedules``.
    Nesting ``sequential_lr`` / ``chained_scheduler`` inside is rejected (torch fails on it).

    Example::

        warm = linear_lr(0.1, start_factor=0.1, total_iters=10)
        sched = sequential_lr([warm, cosine_annealing_lr(0.1, T_max=90)], milestones=[10])
        sched(0), sched(10), sched(55)  # 0.01, 0.1, 0.05
    """
    pieces = _pick_schedules(schedules, schedulers, "sequential_lr")
    if milestones is None:
        raise ValueError("sequential_lr needs milestones, got milestones=None")
    ms = _milestone_list("milestones", milestones, strict=True)
    if len(ms) != len(pieces) - 1:
        raise ValueError(
            f"milestones must have one entry fewer than schedules, got milestones={ms} for "
            f"{len(pieces)} schedules"
        )
    for i, p in enumerate(pieces):
        if isinstance(p, TorchSchedule) and p.name in ("sequential_lr", "chained_scheduler"):
            raise ValueError(
                f"schedules[{i}] is a {p.name}, which torch's SequentialLR cannot re-enter at a "
                f"milestone; flatten it, got schedules[{i}]={p!r}"
            )
    first = bisect.bisect_right(ms, 0)

    def piece_value(i: int, t: Array) -> Array:
        p = pieces[i]
        start = 0 if i == first else ms[i - 1]
        j = jnp.maximum(t - start, 0)
        if not isinstance(p, TorchSchedule):
            return _finish(p(j), j)
        if i == first:
            return p._fn(j)
        # the lr the previous pieces left at the step before the milestone
        return p._at_milestone(j, lambda: upto(i, jnp.asarray(start - 1, _I32)))

    def upto(n: int, t: Array) -> Array:
        """The lr when only pieces ``first .. n - 1`` exist."""
        out = _finish(piece_value(first, t), t)
        for i in range(first + 1, n):
            out = jnp.where(t >= ms[i - 1], piece_value(i, t), out)
        return out

    def fn(t: Array) -> Array:
        return upto(len(pieces), t)

    head = pieces[first]
    base = head.base_lr if isinstance(head, TorchSchedule) else None
    return TorchSchedule(
        "sequential_lr",
        fn,
        base_lr=base,
        chain_error="sequential_lr cannot be a member of chained_scheduler",
    )


def chained_scheduler(
    schedules: Sequence[TorchSchedule] | TorchSchedule | None = None,
    *more: TorchSchedule,
    schedulers: Sequence[TorchSchedule] | None = None,
) -> TorchSchedule:
    """``ChainedScheduler``: every ``step()`` steps each scheduler in turn on the same lr.

    Most torch steps multiply the current lr by a factor (StepLR, MultiStepLR, ExponentialLR,
    ConstantLR, LinearLR, PolynomialLR, MultiplicativeLR, CosineAnnealingLR with
    ``eta_min=0``); a chain of those is ``lr * prod_i f_i(t) / lr``. Some steps overwrite the lr
    (LambdaLR, CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts at every step;
    CosineAnnealingLR at ``T_max, 3 T_max, ...`` where its factor is 0), and CosineAnnealingLR
    adds ``lr (1 - cos(pi / T_max)) / 2`` at the step after each of those. The chain's lr is
    then the last value written, carried through the factors and additions of the steps that
    followed it, which is what torch computes, in closed form.
    ``cosine_annealing_lr`` with ``eta_min != 0`` (its step is affine, ``eta + r (lr - eta)``),
    ``sequential_lr`` and plain callables are rejected with ``ValueError``: for them torch's
    chain has no closed form here. Members built with different ``lr`` are rejected (in torch
    they share one optimizer), unless a ``cyclic_lr`` / ``one_cycle_lr`` member is present:
    torch's CyclicLR / OneCycleLR rewrite the optimizer's lr, so pass the members built after
    them the lr they would see there. Nested chains are flattened. The schedules come as one
    sequence or as separate arguments; ``schedulers=`` is accepted as torch's spelling.

    Example::

        sched = chained_scheduler(
            [constant_lr(1.0, factor=0.1, total_iters=2), exponential_lr(1.0, gamma=0.9)]
        )
        sched(0), sched(1), sched(2)  # 0.1, 0.09, 0.81
    """
    given: object = schedules
    if more or isinstance(schedules, TorchSchedule):
        given = [schedules, *more]
    items = _pick_schedules(given, schedulers, "chained_scheduler")
    members: list[TorchSchedule] = []
    chains: list[_Chain] = []
    for i, s in enumerate(items):
        if not isinstance(s, TorchSchedule):
            raise ValueError(
                f"schedules[{i}] must be a jaxsched.compat.torch schedule (a plain callable "
                f"does not say how its step acts on the lr), got schedules[{i}]={s!r}"
            )
        # a nested chain is flattened: its members were checked when it was built
        for m in s._members if s._members is not None else [s]:
            if m._chain is None:
                raise ValueError(f"schedules[{i}] cannot be chained: {m._chain_error}")
            members.append(m)
            chains.append(m._chain)

    bases = [m.base_lr for m in members if m.base_lr is not None]
    known = [k for k in (concrete(b) for b in bases) if k is not None]
    # cyclic_lr / one_cycle_lr (no base_lr) rewrite the optimizer's lr in torch, and the
    # schedulers built after them start from that value, so the lrs may legitimately differ
    resets = len(bases) < len(members)
    if (
        not resets
        and known
        and any(k.shape != known[0].shape or np.any(k != known[0]) for k in known)
    ):
        raise ValueError(
            "schedules must share one lr (torch chains schedulers of one optimizer), got lr="
            f"{[k.tolist() for k in known]}"
        )
    base = _f32(bases[0]) if bases else None

    def step_through(x: Array, k: Array, members: range) -> Array:
        """Apply step ``k`` of the given members (in order) to the lr ``x``."""
        for i in members:
            c = chains[i]
            mult = x * c.ratio(k - 1, k)
            if c.add is None:
                x = mult
            else:
                adds, added = c.add
                x = jnp.where(adds(k), x + added(k), mult)
        return x

    def fn(t: Array) -> Array:
        # Find the last overwrite (step k*, member p); after it only factors and the additions
        # of cosines that hit zero at k* - 1 (members after p, at step k*) or at k* (members
        # up to p, at step k* + 1) act on the lr.
        none = jnp.full(t.shape, -1, _I32)
        ow = [c.overwrite[0](t) if c.overwrite is not None else none for c in chains]
        kstar = ow[0]
        for e in ow[1:]:
            kstar = jnp.maximum(kstar, e)
        k = jnp.maximum(kstar, 0)
        if base is not None:
            out = base
            for c in chains:
                out = out * c.ratio(none, t)
            out = _finish(out, t)
        else:
            # some member overwrites the lr at every step, so this branch is never selected
            out = jnp.zeros(t.shape, _F32)
        taken = jnp.zeros(t.shape, bool)
        for p in reversed(range(len(chains))):
            overwrite = chains[p].overwrite
            if overwrite is None:
                continue
            sel = (ow[p] == kstar) & (kstar >= 0) & ~taken
            taken = taken | sel
            written = overwrite[1]
            x = step_through(_finish(written(k), t), k, range(p + 1, len(chains)))
            y = step_through(x, k + 1, range(len(chains)))
            for c in chains:
                y = y * c.ratio(k + 1, t)
            out = jnp.where(sel, jnp.where(t > kstar, y, x), out)
        return out

    return TorchSchedule(
        "chained_scheduler",
        fn,
        base_lr=bases[0] if bases else None,
        chain_error="flattened into the enclosing chain",
        members=members,
    )


# ---------------------------------------------------------------------------------------------
# ReduceLROnPlateau


ReduceLROnPlateauState = PlateauState
"""State of :func:`reduce_lr_on_plateau`: :class:`jaxsched.schedules.PlateauState`, whose
fields are torch's attribute names (``lr``, ``best``, ``num_bad_epochs``, ``cooldown_counter``,
``last_epoch``)."""

ReduceLROnPlateau = Plateau
"""The functional ``ReduceLROnPlateau``: ``init``, ``update(state, metric)``, ``lr(state)``."""


def reduce_lr_on_plateau(
    lr: Scalar,
    mode: str = "min",
    factor: Scalar = 0.1,
    patience: ArrayLike = 10,
    threshold: Scalar = 1e-4,
    threshold_mode: str = "rel",
    cooldown: ArrayLike = 0,
    min_lr: Scalar = 0.0,
    eps: Scalar = 1e-8,
) -> ReduceLROnPlateau:
    """``ReduceLROnPlateau`` as a pure state machine that runs inside ``jit`` and ``lax.scan``.

    :func:`jaxsched.schedules.reduce_on_plateau` with ``precision="float64"``, started at
    ``lr``: ``init()`` (``params`` is accepted for optax symmetry and ignored),
    ``update(state, metric)`` is torch's ``step(metric)`` and ``lr(state)`` its
    ``param_groups[0]["lr"]``. The decisions are torch's to the bit, float64 included: a metric
    that lands exactly on ``best * (1 - threshold)`` is not an improvement, as in torch. Each
    update is a host callback (see :mod:`jaxsched.schedules.plateau`).

    >>> plateau = reduce_lr_on_plateau(0.1, patience=2)
    >>> state = plateau.init()
    >>> for metric in [1.0, 0.9, 0.9, 0.9, 0.9]:
    ...     state = plateau.update(state, metric)
    >>> round(float(plateau.lr(state)), 6)
    0.01
    """
    v.check_nonnegative("lr", lr)
    _length("patience", patience, 0)
    _length("cooldown", cooldown, 0)
    core = reduce_on_plateau(
        factor=factor,
        patience=patience,
        threshold=threshold,
        threshold_mode=threshold_mode,
        mode=mode,
        cooldown=cooldown,
        min_lr=min_lr,
        eps=eps,
        precision="float64",
    )

    def init(params: Any = None) -> ReduceLROnPlateauState:
        """The initial state; ``params`` is accepted for optax symmetry and not used."""
        del params
        return core.init(lr)

    return ReduceLROnPlateau(init=init, update=core.update, lr=core.lr)


# Reachable as ``torch.<name>`` in schedule specs (``jaxsched plot``, ``jaxsched train``).
registry.register_namespace("torch", __name__)

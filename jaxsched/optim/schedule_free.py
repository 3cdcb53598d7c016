# mypy: disable-error-code="import-untyped"
r"""Schedule-free optimizers (Defazio et al. 2024, "The Road Less Scheduled").

The family (``schedule_free_adam``, ``schedule_free_adamw``, ``schedule_free_sgd``,
``schedule_free_radam`` and the ``schedule_free`` wrapper) is one implementation,
``_schedule_free_core``, parameterised by the step ``z`` takes (a ``_ZStep``).

Three sequences: ``z`` takes the base optimizer's steps, ``x`` is a weighted average of the
``z`` iterates, and the gradient is evaluated at their interpolation

.. math::

    y_k = (1-\beta_1)\,z_k + \beta_1\,x_k,\qquad
    z_{k+1} = z_k - \gamma_k\,\text{step}(\nabla f(y_k)),\qquad
    x_{k+1} = (1-c_{k+1})\,x_k + c_{k+1}\,z_{k+1}.

In optax form the parameters the user holds (and differentiates at) are ``y``, as in
``optax.contrib.schedule_free``; ``jaxsched.optim.eval_params(state, params)`` gives ``x``, the
parameters to evaluate and checkpoint. At step 0, ``x_0 = y_0 = z_0 = params``.

Memory: the state keeps ``z``, the base's moments (the second moment for the Adam and RAdam
members, nothing for SGD, the base's own state for the wrapper) and a few scalars (count,
``b1``, ``lr_max``, the compensated weight sum), as PyTorch's ``schedulefree`` and
``optax.contrib.schedule_free`` do: ``schedule_free_adamw`` holds 2.0x the parameters' bytes.
``x`` is recovered from the parameters ``y`` as ``x = z + (y - z)/b1``, both in the update and
in ``eval_params(state, params)``, so the parameters passed to ``update`` and ``eval_params``
must be the ones these updates produced (as for optax's). ``store_x`` keeps ``x`` in the state
instead (one more parameter-sized buffer, the ``x`` field; ``None`` where not stored):

* ``store_x=None`` (default): stored for the leaves narrower than float32 (bf16, f16) and
  not for the others; stored everywhere at ``b1 = 0``, where ``y = z`` leaves no trace of ``x``.
  With bf16 parameters every update rounds ``y``; a recovered ``x`` takes each rounding in
  and keeps it (``experiments/sf_bf16_error.py``: 46% from the float32 run's average after
  1000 steps and 158% after 10k, against 0.16%, the bf16 rounding itself, with ``x`` stored).
  On float32 the two agree to 1e-6 relative.
* ``store_x=True``: every leaf; ``store_x=False``: none (and ``b1 = 0`` is refused).

Without a stored ``x`` the update is ``c (z_{k+1} - y_k) + (1-c)(1-b1) (z_{k+1} - z_k)``
(PyTorch's ``AdamWScheduleFree`` form): no division by ``b1``, and ``z`` is written in place.

Complex parameters and a complex ``state_dtype`` work as in optax: the second moment of a
complex gradient is ``|g|^2``, real, and kept in the real dtype (float32 for complex64); a
real ``state_dtype`` for complex parameters is refused.

Precision: ``z``, ``x`` (where stored) and the second moment follow the parameters' dtype
unless ``state_dtype`` is given; the arithmetic is done in at least float32, and the scalar state
(update count, ``lr_max``, the compensated weight sum) is float32 / int32 (float64 under x64
with float64 parameters) whatever the parameters' dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias

import jax
import jax.numpy as jnp
import optax

from jaxsched._validate import check_bool, check_choice, check_nonnegative
from jaxsched.optim._base import (
    PyTree,
    ScalarOrSchedule,
    cast_to,
    check_beta,
    check_learning_rate,
    check_params_given,
    check_state_dtype,
    check_transformation,
    compensated_add,
    compute_dtype,
    increment,
    is_low_precision,
    is_masked_node,
    is_static_value,
    learning_rate_at,
    one_minus_pow,
    real_dtype,
    recover_x,
    round_to,
    scalar_dtype,
    scalar_power,
    second_moment,
    tree_copy,
    tree_zeros,
)
from jaxsched.optim.eval import register_average


class ScheduleFreeAdamState(NamedTuple):
    """State of :func:`schedule_free_adam`, :func:`schedule_free_adamw` and
    :func:`schedule_free_radam`.

    ``lr_max``, ``weight_sum`` and ``weight_sum_comp`` hold the weighted average's bookkeeping
    (``weight_sum + weight_sum_comp`` is the sum of weights, kept as a compensated pair); they
    stay at zero for the notes' EMA average, whose coefficients are closed-form.
    """

    # int32, number of updates so far (the name shadows tuple.count, as in optax's states)
    count: jax.Array  # type: ignore[assignment]
    b1: jax.Array  # the interpolation weight that produced the current y
    lr_max: jax.Array
    weight_sum: jax.Array
    weight_sum_comp: jax.Array
    nu: optax.Updates  # second moment of the gradients (real)
    z: optax.Params
    # the average per leaf where it is stored (store_x), None where it is recovered from y
    x: optax.Params


class ScheduleFreeSGDState(NamedTuple):
    """State of :func:`schedule_free_sgd`: the common fields, no base state (``x`` as in
    :class:`ScheduleFreeAdamState`)."""

    count: jax.Array  # type: ignore[assignment]
    b1: jax.Array
    lr_max: jax.Array
    weight_sum: jax.Array
    weight_sum_comp: jax.Array
    z: optax.Params
    x: optax.Params


class ScheduleFreeState(NamedTuple):
    """State of :func:`schedule_free` (any base optimizer; ``x`` as in
    :class:`ScheduleFreeAdamState`)."""

    count: jax.Array  # type: ignore[assignment]
    b1: jax.Array
    lr_max: jax.Array
    weight_sum: jax.Array
    weight_sum_comp: jax.Array
    base_state: optax.OptState
    z: optax.Params
    x: optax.Params


# ----------------------------------------------------------------------------- the core


class _ZStep(NamedTuple):
    """What distinguishes one member of the family: the step ``z`` takes.

    ``step(grads, base, z, y_old, lr, count, extra_args) -> (delta, base)``: ``delta`` is the
    increment ``z_{k+1} - z_k`` per leaf, unrounded (the core adds it to ``z`` and to ``y``);
    ``y_old`` is ``y_k`` when ``needs_y`` (weight decay at y), else None. ``field`` names the
    state field holding ``base`` (None: no base state). ``lr_factor(count, dtype)`` multiplies
    the learning rate for both the step and the averaging weights (warmup, RAdam's
    rectification); ``weight_lr(lr, base)`` is the learning rate the averaging weights see
    (the wrapper multiplies in a learning-rate-free base's estimate). ``decay_at_z(lr)`` is a
    decay ``lr * wd`` of ``z`` itself that ``delta`` leaves out: the core applies it, and
    without a stored ``x`` recovers the increment from ``z_{k+1}`` so that it need not keep
    ``z_k`` (which would cost XLA a copy of ``z``). ``delta_for_y(grads, base, z, y_old, lr,
    count)``, with the base state after the step, is the same increment written as another
    expression, for the update of ``y`` where ``x`` is recovered: the update of ``z`` and that
    of ``y`` both need the increment, XLA does not copy an expensive one (a square root) into
    two fusions, and merges equal expressions, so it keeps it in a temporary buffer as large as
    the parameters instead. Written twice, it is computed in each fusion and nothing
    parameter-sized is allocated (on CPU, ``experiments/bench_optim.py``: 0.55x
    ``optax.contrib.schedule_free_adamw``'s time per step instead of 1.0x). None: ``delta``.
    """

    init: Callable[[optax.Params], Any] | None
    step: Callable[..., tuple[PyTree, Any]]
    state_class: type
    field: str | None
    needs_y: bool = False
    lr_factor: Callable[[jax.Array, Any], jax.Array] | None = None
    weight_lr: Callable[[jax.Array, Any], jax.Array] | None = None
    decay_at_z: Callable[[jax.Array], jax.Array] | None = None
    delta_for_y: Callable[..., PyTree] | None = None


# (state, learning rate) -> (c_{k+1}, the new weight bookkeeping or None to keep it)
Coefficient: TypeAlias = Callable[[Any, jax.Array], tuple[jax.Array, "dict[str, jax.Array] | None"]]


def _scalars(params: optax.Params, state_dtype: Any, b1: Any) -> dict[str, jax.Array]:
    sdt = scalar_dtype(params, state_dtype)
    # distinct buffers (not one shared zero), so that the state can be donated to jit
    return dict(
        count=jnp.zeros([], jnp.int32),
        b1=jnp.array(b1, sdt, copy=True),
        lr_max=jnp.zeros([], sdt),
        weight_sum=jnp.zeros([], sdt),
        weight_sum_comp=jnp.zeros([], sdt),
    )


def _weighted_coefficient(
    state: Any, lr: jax.Array, r: Any, weight_lr_power: Any
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``c_{k+1} = w_k / sum_{i<=k} w_i`` with ``w_k = (k+1)**r * lr_max**weight_lr_power``.

    As the reference: ``lr_max`` is the running maximum of the (warmed-up) learning rate, and
    ``c = 0`` while every weight so far is zero (a zero learning rate at step 0).
    """
    sdt = state.lr_max.dtype
    lr_max = jnp.maximum(state.lr_max, lr)
    k1 = (state.count + 1).astype(sdt)
    weight = scalar_power(lr_max, weight_lr_power)
    if not is_static_value(r, 0):
        weight = jnp.power(k1, jnp.asarray(r, sdt)) * weight
    weight_sum, weight_sum_comp = compensated_add(state.weight_sum, state.weight_sum_comp, weight)
    total = weight_sum + weight_sum_comp
    c = jnp.where(total > 0, weight / jnp.where(total > 0, total, 1.0), 0.0)
    return c, dict(lr_max=lr_max, weight_sum=weight_sum, weight_sum_comp=weight_sum_comp)


def _y_old(state: Any, params: optax.Params) -> PyTree:
    """``y_k`` per leaf: the parameters where ``x`` is recovered, else ``b1 x_k + (1-b1) z_k``
    from the stored sequences (exact whatever the parameters' dtype)."""
    b1 = state.b1

    def leaf(z: jax.Array, x: jax.Array | None, p: jax.Array) -> jax.Array:
        if x is None:
            return p
        cdt = compute_dtype(x.dtype, z.dtype)
        bb: jax.Array = b1.astype(cdt)
        return bb * x.astype(cdt) + (1 - bb) * z.astype(cdt)

    return jax.tree.map(leaf, state.z, state.x, params)


def _step_average_interpolate(
    state: Any,
    delta: PyTree,
    delta_y: PyTree,
    params: optax.Params,
    c: jax.Array,
    b1: Any,
    decay: jax.Array | None = None,
) -> tuple[PyTree, PyTree, optax.Updates]:
    """``z_{k+1} = z_k + delta`` (``- decay z_k``), ``x_{k+1} = (1-c) x_k + c z_{k+1}`` and
    the updates taking ``params`` (``y_k``) to ``y_{k+1} = b1 x_{k+1} + (1-b1) z_{k+1}``, in one
    pass per leaf.

    Where ``x`` is stored, the updates are ``round(y_{k+1}) - params`` in the parameters'
    dtype, so that ``optax.apply_updates`` lands on ``y_{k+1}`` rounded once (the difference of
    two nearby numbers of one format is exact in it).

    Where it is not, ``x_k = z_k + (y_k - z_k)/b1'`` (``b1'`` the weight that made ``y_k``) and
    the update ``y_{k+1} - y_k`` simplifies to

        ``(1 - r (1-c)) (z_{k+1} - y_k) + (1-c) (r - b1) delta``,   ``r = b1 / b1'``

    (``c (z_{k+1} - y_k) + (1-c) (1 - b1) delta`` for a constant ``b1``; PyTorch's
    ``AdamWScheduleFree`` writes the same with ``z_k``): no division by ``b1``, so it holds at
    ``b1 = 0`` too, and no read of ``z_k`` once ``z_{k+1}`` is written, so XLA updates ``z`` in
    place without first copying it. ``delta`` is the step ``z`` really took: unrounded where
    ``z`` is float32 or wider (its rounding, weighted by ``(1-c)(1-b1)``, is below an ulp),
    ``z_{k+1} - z_k`` after rounding for a narrower state. A ``decay`` of ``z`` itself
    (``z_{k+1} = z_k + delta - decay z_k``) adds ``-decay z_k = -decay (z_{k+1} - delta) /
    (1 - decay)`` to the increment, from ``z_{k+1}`` again.
    """
    sdt = state.b1.dtype
    b1_now = jnp.asarray(b1, sdt)
    b1_old = state.b1
    ratio = jnp.where(b1_old > 0, b1_now / jnp.where(b1_old > 0, b1_old, 1.0), 1.0)
    one_minus_c = 1.0 - c.astype(sdt)
    to_z = 1.0 - ratio * one_minus_c
    along_delta = one_minus_c * (ratio - b1_now)

    def new_z(z: jax.Array, d: jax.Array, cdt: Any) -> jax.Array:
        zz = z.astype(cdt)
        step = d.astype(cdt) if decay is None else d.astype(cdt) - decay.astype(cdt) * zz
        return cast_to(zz + step, z.dtype)

    def leaf(
        z: jax.Array, d: jax.Array, dy: jax.Array, x: jax.Array | None, p: jax.Array
    ) -> tuple[jax.Array, jax.Array | None, jax.Array]:
        if x is None:
            cdt = compute_dtype(p.dtype, z.dtype, d.dtype)
            z_new = new_z(z, d, cdt)
            zn, dd = z_new.astype(cdt), dy.astype(cdt)
            if is_low_precision(z.dtype):
                dd = zn - z.astype(cdt)
            elif decay is not None:
                dc = decay.astype(cdt)
                dd = (dd - dc * zn) / (1 - dc)
            u = to_z.astype(cdt) * (zn - p.astype(cdt)) + along_delta.astype(cdt) * dd
            return z_new, None, cast_to(u, p.dtype)
        cdt = compute_dtype(p.dtype, z.dtype, d.dtype, x.dtype)
        z_new = new_z(z, d, cdt)
        zn = z_new.astype(cdt)
        cc = c.astype(cdt)
        x_new = cast_to((1 - cc) * x.astype(cdt) + cc * zn, x.dtype)
        bb = jnp.asarray(b1, cdt)
        y = round_to(bb * x_new.astype(cdt) + (1 - bb) * zn, p.dtype)
        return z_new, x_new, cast_to(y - p.astype(cdt), p.dtype)

    out = jax.tree.map(leaf, state.z, delta, delta_y, state.x, params)

    def part(i: int) -> PyTree:
        return jax.tree.map(lambda _, o: o[i], state.z, out)

    return part(0), part(1), part(2)


def _schedule_free_average(state: Any, params: optax.Params) -> PyTree:
    """``eval_params``' getter: the stored ``x``, or ``x`` recovered from ``params`` = y."""

    def leaf(z: Any, x: Any, y: Any) -> Any:
        if is_masked_node(z):
            return z
        return x if x is not None else recover_x(y, z, state.b1)

    return jax.tree.map(leaf, state.z, state.x, params, is_leaf=is_masked_node)


register_average(ScheduleFreeAdamState, _schedule_free_average)
register_average(ScheduleFreeSGDState, _schedule_free_average)
register_average(ScheduleFreeState, _schedule_free_average)


def _check_schedule_free(
    learning_rate: Any,
    b1: Any,
    state_dtype: Any,
    store_x: bool | None,
    b2: Any = None,
    **nonnegative: Any,
) -> None:
    """The family's checks: lr, ``b1`` in [0, 1) (0 only with ``x`` stored), ``b2`` in [0, 1)
    if given, ``store_x`` a bool or None, the rest >= 0."""
    check_learning_rate(learning_rate)
    check_beta("b1", b1)
    if store_x is not None:
        check_bool("store_x", store_x)
    if store_x is False and is_static_value(b1, 0):
        raise ValueError(
            "b1 must be > 0 when x is not stored (at b1=0, y = z and x cannot be recovered "
            f"from them): pass store_x=True or None, got b1={b1!r} and store_x=False"
        )
    check_state_dtype(state_dtype)
    if b2 is not None:
        check_beta("b2", b2)
    for name, value in nonnegative.items():
        check_nonnegative(name, value)


def _stores_x(store_x: bool | None, b1: Any) -> Callable[[Any], bool]:
    """Per parameter leaf: is ``x`` kept in the state? ``store_x=None`` decides by dtype:
    yes below float32 (bf16, f16), where recovering x from the rounded ``y`` loses it, and
    everywhere when ``b1`` is statically 0."""
    if store_x is not None:
        return lambda p: store_x
    everywhere = is_static_value(b1, 0)
    return lambda p: everywhere or is_low_precision(jnp.asarray(p).dtype)


def _weighted(r: Any, weight_lr_power: Any) -> Coefficient:
    def coefficient(state: Any, lr: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        return _weighted_coefficient(state, lr, r, weight_lr_power)

    return coefficient


def _linear_warmup(warmup_steps: Any) -> Callable[[jax.Array, Any], jax.Array] | None:
    """The reference's warmup factor ``min(1, (k+1)/warmup_steps)``; None when statically 0."""
    if is_static_value(warmup_steps, 0):
        return None

    def factor(k: jax.Array, sdt: Any) -> jax.Array:
        w = jnp.asarray(warmup_steps, sdt)
        k1 = (k + 1).astype(sdt)
        return jnp.where(k.astype(sdt) < w, k1 / jnp.where(w > 0, w, 1.0), 1.0)

    return factor


def _schedule_free_core(
    zstep: _ZStep,
    learning_rate: ScalarOrSchedule,
    b1: Any,
    coefficient: Coefficient,
    state_dtype: Any,
    store_x: bool | None,
    name: str,
) -> optax.GradientTransformationExtraArgs:
    """The one schedule-free update: base step on z, average into x, interpolate to y."""
    stores_x = _stores_x(store_x, b1)

    def init_fn(params: optax.Params) -> Any:
        field, init = zstep.field, zstep.init
        extra = {} if field is None or init is None else {field: init(params)}
        z = tree_copy(params, state_dtype)

        def x_leaf(p: jax.Array, z: jax.Array) -> jax.Array | None:
            return jnp.array(z, copy=True) if stores_x(p) else None

        x = jax.tree.map(x_leaf, params, z)
        return zstep.state_class(**_scalars(params, state_dtype, b1), **extra, z=z, x=x)

    def update_fn(
        grads: optax.Updates,
        state: Any,
        params: optax.Params | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, Any]:
        check_params_given(params, name)
        sdt = state.lr_max.dtype
        k = state.count
        lr = learning_rate_at(learning_rate, k, sdt)
        if zstep.lr_factor is not None:
            lr = lr * zstep.lr_factor(k, sdt)
        base = None if zstep.field is None else getattr(state, zstep.field)
        y_old = _y_old(state, params) if zstep.needs_y else None
        delta, base = zstep.step(grads, base, state.z, y_old, lr, k, extra_args)
        weight_lr = lr if zstep.weight_lr is None else zstep.weight_lr(lr, base)
        c, weights = coefficient(state, weight_lr)
        decay = None if zstep.decay_at_z is None else zstep.decay_at_z(lr)
        delta_y = delta
        if zstep.delta_for_y is not None:
            delta_y = zstep.delta_for_y(grads, base, state.z, y_old, lr, k)
        z, x, updates = _step_average_interpolate(
            state, delta, delta_y, params, c, b1, decay
        )
        if weights is None:
            weights = dict(
                lr_max=state.lr_max,
                weight_sum=state.weight_sum,
                weight_sum_comp=state.weight_sum_comp,
            )
        extra = {} if zstep.field is None else {zstep.field: base}
        new_state = zstep.state_class(
            count=increment(k), b1=jnp.asarray(b1, sdt), **weights, **extra, z=z, x=x
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# ----------------------------------------------------------------------------- base steps


def _leaf_step(
    grads: PyTree,
    z: PyTree,
    y_old: PyTree | None,
    fn: Callable[[jax.Array, jax.Array, jax.Array | None, Any], jax.Array],
) -> PyTree:
    """``fn(g, z, y, cdt)`` per leaf, its arguments in the compute dtype ``cdt``."""

    def leaf(g: jax.Array, z: jax.Array, *y: jax.Array) -> jax.Array:
        g = jnp.asarray(g)
        cdt = compute_dtype(g.dtype, z.dtype)
        yy = y[0].astype(cdt) if y else None
        return fn(g.astype(cdt), z.astype(cdt), yy, cdt)

    if y_old is None:
        return jax.tree.map(leaf, grads, z)
    return jax.tree.map(leaf, grads, z, y_old)


def _rms_z_step(
    b2: Any,
    eps: Any,
    weight_decay: Any,
    decay_at: str | None,
    state_dtype: Any,
    adaptive: Callable[[jax.Array, Any], jax.Array] | None = None,
) -> _ZStep:
    """The RMS-normalised z step of AdamW (and RAdam): ``- lr g / (sqrt(v / (1 - b2^t)) +
    eps)`` and the decay, at y (here) or at z (``decay_at_z``, applied by the core).

    ``adaptive(count, dtype)``, when given, is False for the steps that take the raw gradient
    instead (RAdam before its variance estimate is defined).
    """

    def deltas(
        grads: optax.Updates,
        nu: optax.Updates,
        z: PyTree,
        y_old: PyTree | None,
        lr: jax.Array,
        k: jax.Array,
        again: bool,
    ) -> PyTree:
        bc2 = one_minus_pow(b2, k + 1, lr.dtype)
        use_rms = None if adaptive is None else adaptive(k, lr.dtype)

        def leaf(g: jax.Array, v: jax.Array, z: jax.Array, *y: jax.Array) -> jax.Array:
            cdt = compute_dtype(g.dtype, v.dtype, z.dtype)
            lr_c = lr.astype(cdt)
            g = g.astype(cdt)
            rdt = real_dtype(cdt)
            vv, bc = v.astype(rdt), bc2.astype(rdt)
            # ``again``: an expression XLA cannot merge with the first (see _ZStep.delta_for_y)
            rms = jnp.sqrt(vv) * jax.lax.rsqrt(bc) if again else jnp.sqrt(vv / bc)
            normalised = g / (rms + eps).astype(cdt)
            if use_rms is not None:
                normalised = jnp.where(use_rms, normalised, g)
            delta: jax.Array = -lr_c * normalised
            if decay_at == "y":
                delta = delta - (lr_c * weight_decay) * y[0]
            return delta  # a decay at z is the core's (decay_at_z)

        trees = (grads, nu, z) if y_old is None else (grads, nu, z, y_old)
        return jax.tree.map(leaf, *trees)

    def step(
        grads: optax.Updates,
        nu: optax.Updates,
        z: PyTree,
        y_old: PyTree | None,
        lr: jax.Array,
        k: jax.Array,
        extra_args: dict[str, Any],
    ) -> tuple[PyTree, optax.Updates]:
        del extra_args
        # |g|^2, real for a complex gradient (as optax), kept in the real dtype
        nu = jax.tree.map(lambda g, v: second_moment(g, v, b2), grads, nu)
        return deltas(grads, nu, z, y_old, lr, k, again=False), nu

    def delta_for_y(
        grads: optax.Updates,
        nu: optax.Updates,
        z: PyTree,
        y_old: PyTree | None,
        lr: jax.Array,
        k: jax.Array,
    ) -> PyTree:
        return deltas(grads, nu, z, y_old, lr, k, again=True)

    return _ZStep(
        init=lambda params: tree_zeros(params, state_dtype, real=True),
        step=step,
        state_class=ScheduleFreeAdamState,
        field="nu",
        needs_y=decay_at == "y",
        decay_at_z=(lambda lr: lr * weight_decay) if decay_at == "z" else None,
        delta_for_y=delta_for_y,
    )


def _sgd_z_step(weight_decay: Any) -> _ZStep:
    """The reference SGD's z step: ``- lr (g + wd y)`` (weight decay at y, as an L2 term)."""
    has_decay = not is_static_value(weight_decay, 0)

    def step(
        grads: optax.Updates,
        base: None,
        z: PyTree,
        y_old: PyTree | None,
        lr: jax.Array,
        k: jax.Array,
        extra_args: dict[str, Any],
    ) -> tuple[PyTree, None]:
        del base, k, extra_args

        def leaf(g: jax.Array, z: jax.Array, y: jax.Array | None, cdt: Any) -> jax.Array:
            if y is not None:
                g = g + weight_decay * y
            return -lr.astype(cdt) * g

        return _leaf_step(grads, z, y_old, leaf), None

    return _ZStep(
        init=None, step=step, state_class=ScheduleFreeSGDState, field=None, needs_y=has_decay
    )


def _radam_rectification(
    k: jax.Array, b2: Any, silent_sgd_phase: bool, sdt: Any
) -> tuple[jax.Array, jax.Array]:
    """RAdam's ``(rect, adaptive)`` for the update with 0-based index ``k``.

    ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)`` with ``t = k + 1`` and ``rho_inf =
    2/(1-b2) - 1``; while ``rho_t <= 4`` the step is plain SGD (``adaptive`` False) with
    ``rect = 0`` (silent: only the second moment moves) or 1.
    """
    t = k + 1
    bc2 = one_minus_pow(b2, t, sdt)
    rho_inf = 2.0 / jnp.asarray(1.0 - b2, sdt) - 1.0
    rho_t = rho_inf - 2.0 * t.astype(sdt) * (1.0 - bc2) / bc2
    adaptive = rho_t > 4.0
    rho = jnp.where(adaptive, rho_t, 5.0)
    rect = jnp.sqrt(
        (rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)
    )
    return jnp.where(adaptive, rect, 0.0 if silent_sgd_phase else 1.0).astype(sdt), adaptive


def _radam_z_step(
    b2: Any, eps: Any, weight_decay: Any, silent_sgd_phase: bool, state_dtype: Any
) -> _ZStep:
    """RAdamScheduleFree's z step: the AdamW step with decay at y and the rectified learning
    rate, and the raw gradient while the rectification is undefined."""

    def rect(k: jax.Array, sdt: Any) -> jax.Array:
        return _radam_rectification(k, b2, silent_sgd_phase, sdt)[0]

    def adaptive(k: jax.Array, sdt: Any) -> jax.Array:
        return _radam_rectification(k, b2, silent_sgd_phase, sdt)[1]

    decay_at = None if is_static_value(weight_decay, 0) else "y"
    return _rms_z_step(b2, eps, weight_decay, decay_at, state_dtype, adaptive)._replace(
        lr_factor=rect
    )


# Learning-rate-free bases keep their estimate of the step size ``d`` in their state; like
# ScheduleFreeWrapperReference (``lr = group['lr'] * group['d']``), the wrapper weights its
# average by ``learning_rate * d``, so that the iterates taken while ``d`` was still tiny
# count for little. One entry per state class that carries such an estimate.
_LR_ESTIMATES: dict[type, Callable[[Any], jax.Array]] = {
    optax.contrib.ProdigyState: lambda state: state.estim_lr,
    optax.contrib.DAdaptAdamWState: lambda state: state.estim_lr,
}


def _is_lr_estimate(node: Any) -> bool:
    return type(node) in _LR_ESTIMATES


def _estimated_lr_scale(lr: jax.Array, base_state: Any) -> jax.Array:
    """``lr * d`` when the base state holds a learning-rate estimate ``d``, else ``lr``."""
    found = [
        s for s in jax.tree.leaves(base_state, is_leaf=_is_lr_estimate) if _is_lr_estimate(s)
    ]
    if not found:
        return lr
    if len(found) > 1:
        raise ValueError(
            "schedule_free: the base optimizer holds more than one learning-rate estimate "
            f"({', '.join(type(s).__name__ for s in found)}); the averaging weights need one"
        )
    return lr * _LR_ESTIMATES[type(found[0])](found[0]).astype(lr.dtype)


# ----------------------------------------------------------------------------- public


def schedule_free_adam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-6,
    average: str = "polyak",
    ema_decay: Any = 0.9999,
    *,
    state_dtype: Any = None,
    store_x: bool | None = None,
) -> optax.GradientTransformation:
    r"""The notes' schedule-free Adam (``adam_optimizer_schedulefree``).

    No first moment: the gradient is taken at :math:`y_k = (1-b_1) z_k + b_1 x_k`, ``z`` takes
    the RMS-normalised step and ``x`` averages ``z``:

    .. math::

        v_{k+1} = b_2 v_k + (1-b_2) g_k^2,\qquad
        z_{k+1} = z_k - \eta(k)\,\frac{g_k}{\sqrt{v_{k+1}/(1-b_2^{k+1})} + \epsilon},

        x_{k+1} = x_k + c_{k+1}(z_{k+1} - x_k),\qquad
        c_{k+1} = \frac{1}{k+1}\ (\text{polyak}),\quad
        c_{k+1} = \frac{1-d}{1-d^{k+1}}\ (\text{ema}),

    with ``x_0 = y_0 = z_0 = params``. Polyak gives :math:`x_k = \frac1k\sum_{i=1}^k z_i`;
    EMA gives the debiased average :math:`s_k/(1-d^k)` of :math:`s_k = d s_{k-1} + (1-d) z_k`,
    :math:`s_0 = 0`.

    Difference from the notes, on purpose: the notes' EMA branch divides :math:`s_k` by
    :math:`1-d^{k+1}` (one power too many: ``step + 1`` before the update), so their first
    gradient is taken at ``(1-b1) * params`` (``0.1 * params``) and the smoothed parameters
    stay biased towards zero by a factor :math:`(1-d^k)/(1-d^{k+1})`. Here the average after
    ``k`` updates is debiased by :math:`1-d^k` and the first gradient is at ``params``.
    The Polyak branch is the notes' exactly.

    Args:
      learning_rate: float, JAX array or schedule ``count -> lr`` (0-based count).
      b1: interpolation weight in [0, 1) (0: ``y = z``, with ``x`` stored).
      b2: second-moment decay in [0, 1).
      eps: added outside the square root, >= 0.
      average: ``"polyak"`` or ``"ema"``.
      ema_decay: EMA decay in [0, 1) (used when ``average="ema"``).
      state_dtype: dtype of ``z``, ``x`` and the second moment (its real counterpart for a
        complex dtype); floating or complex, by default the parameters'.
      store_x: keep the average ``x`` in the state: None (default) for the leaves narrower
        than float32 and at ``b1 = 0``, True for every leaf, False for none (``x`` recovered
        from the parameters; see the module docstring for the measured bf16 error).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import eval_params, schedule_free_adam
      >>> opt = schedule_free_adam(1e-3, average="ema")
      >>> params = {"w": jnp.ones(3)}     # these are y: take gradients here
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state, params)
      >>> params = optax.apply_updates(params, updates)
      >>> x = eval_params(state, params)  # evaluate / checkpoint these
    """
    _check_schedule_free(learning_rate, b1, state_dtype, store_x, b2, eps=eps)
    check_choice("average", average, ("polyak", "ema"))
    check_beta("ema_decay", ema_decay)

    if average == "polyak":

        def coefficient(state: Any, lr: jax.Array) -> tuple[jax.Array, None]:
            del lr
            c: jax.Array = 1.0 / (state.count + 1).astype(state.lr_max.dtype)
            return c, None

    else:

        def coefficient(state: Any, lr: jax.Array) -> tuple[jax.Array, None]:
            del lr
            sdt = state.lr_max.dtype
            d = jnp.asarray(ema_decay, sdt)
            debias = one_minus_pow(d, state.count + 1, sdt)
            first = state.count == 0
            c = jnp.where(first, 1.0, (1.0 - d) / jnp.where(first, 1.0, debias))
            return c.astype(sdt), None

    zstep = _rms_z_step(b2, eps, 0.0, None, state_dtype)
    return _schedule_free_core(
        zstep, learning_rate, b1, coefficient, state_dtype, store_x, "schedule_free_adam"
    )


def schedule_free_adamw(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    warmup_steps: Any = 0,
    r: Any = 0.0,
    weight_lr_power: Any = 2.0,
    decay_at_z: bool = False,
    *,
    state_dtype: Any = None,
    store_x: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Schedule-free AdamW, trajectory-equal to ``schedulefree.AdamWScheduleFreeReference``.

    With ``k`` the 0-based update count:

    .. math::

        \gamma_k = \eta(k)\,\min\!\Big(1, \frac{k+1}{\text{warmup\_steps}}\Big),\quad
        \gamma^{\max}_k = \max_{i\le k}\gamma_i,\quad
        w_k = (k+1)^r\,(\gamma^{\max}_k)^{\text{weight\_lr\_power}},\quad
        c_{k+1} = \frac{w_k}{\sum_{i\le k} w_i},

        z_{k+1} = z_k - \gamma_k\,\lambda\,y_k
                 - \gamma_k\,\frac{g_k}{\sqrt{v_{k+1}/(1-b_2^{k+1})} + \epsilon},\qquad
        v_{k+1} = b_2 v_k + (1-b_2) g_k^2,

        x_{k+1} = (1-c_{k+1})\,x_k + c_{k+1}\,z_{k+1},\qquad
        y_{k+1} = b_1 x_{k+1} + (1-b_1) z_{k+1},

    where :math:`\lambda` is ``weight_decay`` and ``g_k`` the gradient at ``y_k`` (the
    parameters). The decay is computed at ``y`` by default (the reference's
    ``decay_at_z=False``, AlgoPerf's SF-AdamW); ``decay_at_z=True`` replaces
    :math:`\lambda y_k` by :math:`\lambda z_k`. A callable ``learning_rate`` plays the part
    of a torch scheduler changing ``group['lr']``.

    Differences from ``optax.contrib.schedule_free_adamw`` (same algorithm family):

    * warmup: optax folds it into a ``warmup_constant_schedule`` that the base Adam evaluates
      at ``k`` (so its first step has ``lr = 0`` and every warmup step lags by one) while the
      averaging weights evaluate it at ``k + 1``; the reference (and this function) uses
      ``(k+1)/warmup_steps`` for both. Without warmup the two agree to rounding.
    * ``r`` (polynomial weighting) is missing in optax.
    * optax keeps the weight sum in the parameters' dtype, so in bf16 it stops growing after a
      few hundred steps; here it is a float32 compensated sum.
    * both recover ``x`` from the parameters on float32; with bf16 parameters optax still
      does (and drifts), here ``x`` is stored by default (``store_x``).

    Args:
      learning_rate: float, JAX array or schedule ``count -> lr`` (0-based count), >= 0.
      b1: interpolation weight in [0, 1) (0: ``y = z``, with ``x`` stored).
      b2: second-moment decay in [0, 1).
      eps: added outside the square root, >= 0.
      weight_decay: decoupled weight decay (multiplied by the learning rate), >= 0.
      warmup_steps: linear warmup length, >= 0 (0: none).
      r: polynomial weighting power of the average, >= 0.
      weight_lr_power: power of ``lr_max`` in the weights, >= 0.
      decay_at_z: compute the weight decay at ``z`` instead of ``y``.
      state_dtype: dtype of ``z``, ``x`` and the second moment (its real counterpart for a
        complex dtype); floating or complex, by default the parameters'.
      store_x: keep the average ``x`` in the state: None (default) for the leaves narrower
        than float32 and at ``b1 = 0``, True for every leaf, False for none (``x`` recovered
        from the parameters; see the module docstring for the measured bf16 error).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import eval_params, schedule_free_adamw
      >>> opt = schedule_free_adamw(1e-3, warmup_steps=100, weight_decay=1e-4)
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state, params)
      >>> params = optax.apply_updates(params, updates)
      >>> x = eval_params(state, params)
    """
    _check_schedule_free(
        learning_rate,
        b1,
        state_dtype,
        store_x,
        b2,
        eps=eps,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        r=r,
        weight_lr_power=weight_lr_power,
    )
    check_bool("decay_at_z", decay_at_z)
    decay_at = None if is_static_value(weight_decay, 0) else ("z" if decay_at_z else "y")
    zstep = _rms_z_step(b2, eps, weight_decay, decay_at, state_dtype)._replace(
        lr_factor=_linear_warmup(warmup_steps)
    )
    return _schedule_free_core(
        zstep,
        learning_rate,
        b1,
        _weighted(r, weight_lr_power),
        state_dtype,
        store_x,
        "schedule_free_adamw",
    )


def schedule_free_sgd(
    learning_rate: ScalarOrSchedule = 1.0,
    b1: Any = 0.9,
    weight_decay: Any = 0.0,
    warmup_steps: Any = 0,
    r: Any = 0.0,
    weight_lr_power: Any = 2.0,
    *,
    state_dtype: Any = None,
    store_x: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Schedule-free SGD, trajectory-equal to ``schedulefree.SGDScheduleFreeReference``
    (and ``SGDScheduleFree``) with ``momentum=b1``.

    With :math:`\gamma_k`, :math:`c_{k+1}` as in :func:`schedule_free_adamw` (warmup
    :math:`\min(1, (k+1)/\text{warmup\_steps})`, weights :math:`(k+1)^r
    (\gamma^{\max}_k)^{\text{weight\_lr\_power}}`):

    .. math::

        z_{k+1} = z_k - \gamma_k\,(g_k + \lambda\,y_k),\qquad
        x_{k+1} = (1-c_{k+1})\,x_k + c_{k+1}\,z_{k+1},\qquad
        y_{k+1} = b_1 x_{k+1} + (1-b_1) z_{k+1},

    ``g_k`` the gradient at ``y_k`` (the parameters), :math:`\lambda` = ``weight_decay``
    (an L2 term at ``y``, as the reference). The reference's default ``lr=1.0`` is kept; it
    suits convex problems with normalised inputs, most networks want 0.1 to 10 times less.

    Args:
      learning_rate: float, JAX array or schedule ``count -> lr`` (0-based count), >= 0.
      b1: interpolation weight (the reference's ``momentum``) in [0, 1) (0: ``y = z``, with
        ``x`` stored).
      weight_decay: L2 weight decay computed at ``y``, >= 0.
      warmup_steps: linear warmup length, >= 0 (0: none).
      r: polynomial weighting power of the average, >= 0.
      weight_lr_power: power of ``lr_max`` in the weights, >= 0.
      state_dtype: dtype of ``z`` and ``x``; floating or complex, by default the
        parameters'.
      store_x: keep the average ``x`` in the state: None (default) for the leaves narrower
        than float32 and at ``b1 = 0``, True for every leaf, False for none (``x`` recovered
        from the parameters; see the module docstring for the measured bf16 error).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import eval_params, schedule_free_sgd
      >>> opt = schedule_free_sgd(0.1, warmup_steps=10)
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state, params)
      >>> params = optax.apply_updates(params, updates)
      >>> [round(float(v), 3) for v in params["w"]]   # y: z moved by 0.1/10, x = z after 1 step
      [0.99, 0.99, 0.99]
    """
    _check_schedule_free(
        learning_rate,
        b1,
        state_dtype,
        store_x,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        r=r,
        weight_lr_power=weight_lr_power,
    )
    zstep = _sgd_z_step(weight_decay)._replace(lr_factor=_linear_warmup(warmup_steps))
    return _schedule_free_core(
        zstep,
        learning_rate,
        b1,
        _weighted(r, weight_lr_power),
        state_dtype,
        store_x,
        "schedule_free_sgd",
    )


def schedule_free_radam(
    learning_rate: ScalarOrSchedule = 0.0025,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    weight_decay: Any = 0.0,
    r: Any = 0.0,
    weight_lr_power: Any = 2.0,
    silent_sgd_phase: bool = True,
    *,
    state_dtype: Any = None,
    store_x: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Schedule-free RAdam, trajectory-equal to ``schedulefree.RAdamScheduleFree``: no warmup.

    RAdam's rectification replaces the warmup. With ``t = k + 1``,
    :math:`\rho_\infty = 2/(1-b_2) - 1` and :math:`\rho_t = \rho_\infty - 2 t b_2^t/(1-b_2^t)`,

    .. math::

        \gamma_k = \eta(k)\,\sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
                                     {(\rho_\infty-4)(\rho_\infty-2)\rho_t}}
        \quad(\rho_t > 4),

        z_{k+1} = z_k - \gamma_k\Big(\frac{g_k}{\sqrt{v_{k+1}/(1-b_2^t)} + \epsilon}
                  + \lambda\,y_k\Big),\qquad v_{k+1} = b_2 v_k + (1-b_2) g_k^2,

    and x, y, the weights :math:`(k+1)^r (\gamma^{\max}_k)^{\text{weight\_lr\_power}}` as
    in :func:`schedule_free_adamw`. While :math:`\rho_t \le 4` (the first 4 steps for
    ``b2=0.999``) RAdam has no variance estimate: with ``silent_sgd_phase=True`` (the
    reference's default) :math:`\gamma_k = 0` and only ``v`` moves, so the parameters and
    the average stay put; with ``False`` those steps are plain SGD,
    :math:`z_{k+1} = z_k - \eta(k)(g_k + \lambda y_k)`.

    Args:
      learning_rate: float, JAX array or schedule ``count -> lr`` (0-based count), >= 0.
      b1: interpolation weight in [0, 1) (0: ``y = z``, with ``x`` stored).
      b2: second-moment decay in [0, 1).
      eps: added outside the square root, >= 0.
      weight_decay: weight decay computed at ``y`` (multiplied by the learning rate), >= 0.
      r: polynomial weighting power of the average, >= 0.
      weight_lr_power: power of ``lr_max`` in the weights, >= 0.
      silent_sgd_phase: skip the steps before the rectification is defined (True) or take
        them as SGD steps (False). Static.
      state_dtype: dtype of ``z``, ``x`` and the second moment (its real counterpart for a
        complex dtype); floating or complex, by default the parameters'.
      store_x: keep the average ``x`` in the state: None (default) for the leaves narrower
        than float32 and at ``b1 = 0``, True for every leaf, False for none (``x`` recovered
        from the parameters; see the module docstring for the measured bf16 error).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import eval_params, schedule_free_radam
      >>> opt = schedule_free_radam(1e-3)
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state, params)
      >>> params = optax.apply_updates(params, updates)
      >>> float(params["w"][0])   # the silent SGD phase: the first step leaves y in place
      1.0
    """
    _check_schedule_free(
        learning_rate,
        b1,
        state_dtype,
        store_x,
        b2,
        eps=eps,
        weight_decay=weight_decay,
        r=r,
        weight_lr_power=weight_lr_power,
    )
    check_bool("silent_sgd_phase", silent_sgd_phase)
    zstep = _radam_z_step(b2, eps, weight_decay, silent_sgd_phase, state_dtype)
    return _schedule_free_core(
        zstep,
        learning_rate,
        b1,
        _weighted(r, weight_lr_power),
        state_dtype,
        store_x,
        "schedule_free_radam",
    )


def schedule_free(
    base: optax.GradientTransformation,
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    weight_lr_power: Any = 2.0,
    r: Any = 0.0,
    *,
    weight_decay_at_y: Any = 0.0,
    state_dtype: Any = None,
    store_x: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Make any momentum-free optax optimizer schedule-free.

    As ``schedulefree.ScheduleFreeWrapperReference``: the base optimizer runs on the ``z``
    sequence (it is given ``z`` as its ``params``, so its own weight decay acts at ``z``),
    and

    .. math::

        z_{k+1} = z_k - \gamma_k\,\lambda_y\,y_k + \text{base}(g_k),\qquad
        x_{k+1} = (1-c_{k+1})\,x_k + c_{k+1}\,z_{k+1},\qquad
        y_{k+1} = b_1 x_{k+1} + (1-b_1) z_{k+1},

    with ``c`` as in :func:`schedule_free_adamw`: :math:`w_k = (k+1)^r
    (\max_{i\le k}\gamma_i)^{\text{weight\_lr\_power}}`, :math:`c_{k+1} = w_k/\sum_{i\le k}
    w_i`, where :math:`\gamma_k` is ``learning_rate`` at the 0-based count ``k``: pass the
    base optimizer's own learning rate (schedule, warmup included) here too.

    The base optimizer must have no momentum of its own (``optax.sgd(lr)``,
    ``optax.adam(lr, b1=0.0)``, ``optax.rmsprop``...): schedule-free replaces momentum with
    the interpolation.

    Learning-rate-free bases compose: ``schedule_free(optax.contrib.prodigy(1.0,
    betas=(0.0, 0.999)), 1.0)`` or ``optax.contrib.dadapt_adamw`` likewise. When the base
    state holds such a step-size estimate ``d`` (``estim_lr``), the averaging weights use
    :math:`\gamma_k d_{k+1}` (``d`` after the base's update), as
    ``ScheduleFreeWrapperReference`` uses ``group['lr'] * group['d']``; the decay at ``y``
    keeps :math:`\gamma_k` alone, as there. A base holding two estimates raises
    ``ValueError``.

    Args:
      base: the momentum-free optax transformation producing the ``z`` step.
      learning_rate: the learning rate the base uses (float, JAX array or schedule).
      b1: interpolation weight in [0, 1) (0: ``y = z``, with ``x`` stored).
      weight_lr_power: power of ``lr_max`` in the averaging weights, >= 0.
      r: polynomial weighting power, >= 0.
      weight_decay_at_y: decoupled weight decay computed at ``y`` (the reference's
        ``weight_decay_at_y``), >= 0.
      state_dtype: dtype of ``z`` and ``x``; floating or complex, by default the
        parameters'.
      store_x: keep the average ``x`` in the state: None (default) for the leaves narrower
        than float32 and at ``b1 = 0``, True for every leaf, False for none (``x`` recovered
        from the parameters; see the module docstring for the measured bf16 error).

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxsched.optim import eval_params, schedule_free
      >>> opt = schedule_free(optax.sgd(0.1), learning_rate=0.1)
      >>> params = {"w": jnp.ones(3)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.ones(3)}, state, params)
      >>> params = optax.apply_updates(params, updates)
      >>> x = eval_params(state, params)
    """
    check_transformation("base", base)
    _check_schedule_free(
        learning_rate,
        b1,
        state_dtype,
        store_x,
        weight_lr_power=weight_lr_power,
        r=r,
        weight_decay_at_y=weight_decay_at_y,
    )
    base = optax.with_extra_args_support(base)
    has_decay = not is_static_value(weight_decay_at_y, 0)

    def step(
        grads: optax.Updates,
        base_state: optax.OptState,
        z: PyTree,
        y_old: PyTree | None,
        lr: jax.Array,
        k: jax.Array,
        extra_args: dict[str, Any],
    ) -> tuple[PyTree, optax.OptState]:
        del k
        if not has_decay:
            plain: tuple[PyTree, optax.OptState] = base.update(grads, base_state, z, **extra_args)
            return plain

        def decay(g: jax.Array, z: jax.Array, y: jax.Array | None, cdt: Any) -> jax.Array:
            del g, z
            assert y is not None  # needs_y
            decayed: jax.Array = -(lr.astype(cdt) * weight_decay_at_y) * y
            return decayed

        decayed = _leaf_step(z, z, y_old, decay)
        # the base steps from the decayed z, as the reference's (its own decay acts there)
        z_decayed = jax.tree.map(lambda z, d: cast_to(z.astype(d.dtype) + d, z.dtype), z, decayed)
        base_updates, base_state = base.update(grads, base_state, z_decayed, **extra_args)
        return jax.tree.map(lambda d, u: d + u.astype(d.dtype), decayed, base_updates), base_state

    zstep = _ZStep(
        init=base.init,
        step=step,
        state_class=ScheduleFreeState,
        field="base_state",
        needs_y=has_decay,
        weight_lr=_estimated_lr_scale,
    )
    return _schedule_free_core(
        zstep,
        learning_rate,
        b1,
        _weighted(r, weight_lr_power),
        state_dtype,
        store_x,
        "schedule_free",
    )


__all__ = [
    "ScheduleFreeAdamState",
    "ScheduleFreeSGDState",
    "ScheduleFreeState",
    "schedule_free",
    "schedule_free_adam",
    "schedule_free_adamw",
    "schedule_free_radam",
    "schedule_free_sgd",
]

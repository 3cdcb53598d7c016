# mypy: disable-error-code="import-untyped"
"""Plumbing shared by the optimizers: learning rates, dtypes, counters and scalar accuracy.

Two rules run through this package:

* Nothing converts a hyperparameter to a Python number. A sweep builds the optimizer inside
  ``jax.vmap`` with traced learning rates, betas and decays, so every hyperparameter is used
  through ``jnp`` arithmetic and validated only when it is concrete.
* Scalar state (counts, weight sums, running maxima) never drops below float32 / int32, whatever
  the parameters' dtype: a bf16 weight sum stops growing after a few hundred steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched._validate import (
    check_in_range,
    check_nonnegative,
    concrete,
)

ScalarOrSchedule: TypeAlias = float | jax.Array | Callable[[jax.Array], Any]

# jnp.finfo / jnp.iinfo carry no annotations: called through these typed names
_finfo: Callable[[Any], Any] = jnp.finfo
_iinfo: Callable[[Any], Any] = jnp.iinfo
# a pytree of arrays (parameters, updates, a state's buffers): structure checked at run time
PyTree: TypeAlias = Any


# ----------------------------------------------------------------------------- validation


def check_learning_rate(learning_rate: Any) -> None:
    """A constant learning rate must be finite and >= 0; a schedule is checked by its maker."""
    if not callable(learning_rate):
        check_nonnegative("learning_rate", learning_rate)


def check_beta(name: str, value: Any, *, open_low: bool = False) -> None:
    """``value`` in [0, 1) (or (0, 1) when ``open_low``)."""
    check_in_range(name, value, 0.0, 1.0, low_inclusive=not open_low, high_inclusive=False)


def check_transformation(name: str, value: Any) -> None:
    if not (hasattr(value, "init") and hasattr(value, "update") and callable(value.init)):
        raise ValueError(f"{name} must be an optax.GradientTransformation, got {name}={value!r}")


def check_state_dtype(state_dtype: Any) -> None:
    """``state_dtype`` is None, a floating dtype or a complex dtype."""
    if state_dtype is None:
        return
    requirement = (
        f"state_dtype must be a floating or complex dtype or None, got state_dtype={state_dtype!r}"
    )
    try:
        dt = jnp.dtype(state_dtype)
    except TypeError as err:
        raise ValueError(requirement) from err
    if not jnp.issubdtype(dt, jnp.inexact):
        raise ValueError(requirement)


def check_params_given(params: Any, who: str) -> None:
    if params is None:
        raise ValueError(
            f"{who} needs the current parameters: call update(updates, state, params) with "
            "params (got params=None)"
        )


def is_static_value(value: Any, target: float) -> bool:
    """True when ``value`` is concrete and equal to ``target`` everywhere (never for tracers)."""
    arr = concrete(value)
    return arr is not None and bool(np.all(arr == target))


# ----------------------------------------------------------------------------- dtypes


def state_dtype_for(leaf: Any, state_dtype: Any) -> Any:
    """The dtype a state buffer of ``leaf`` is kept in: ``state_dtype``, or the leaf's own.

    A real ``state_dtype`` for a complex parameter would drop its imaginary part: refused.
    """
    dt = jnp.asarray(leaf).dtype
    if state_dtype is None:
        return dt
    sdt = jnp.dtype(state_dtype)
    if jnp.issubdtype(dt, jnp.complexfloating) and not jnp.issubdtype(sdt, jnp.complexfloating):
        raise ValueError(
            f"state_dtype must be complex for complex parameters (a {dt} parameter), got "
            f"state_dtype={state_dtype!r}"
        )
    return sdt


def real_dtype(dtype: Any) -> Any:
    """The real counterpart of an inexact dtype: float32 for complex64, else ``dtype``."""
    return _finfo(dtype).dtype


def is_complex(dtype: Any) -> bool:
    return bool(jnp.issubdtype(dtype, jnp.complexfloating))


def is_low_precision(dtype: Any) -> bool:
    """True for inexact dtypes narrower than float32 (bfloat16, float16, the float8s)."""
    return bool(jnp.issubdtype(dtype, jnp.inexact)) and _finfo(dtype).bits < 32


def compute_dtype(*dtypes: Any) -> Any:
    """The dtype to compute in: the widest of the inputs, and at least float32.

    bf16 inputs are computed in float32 and rounded once on the way out.
    """
    return jnp.result_type(jnp.float32, *dtypes)


def scalar_dtype(params: Any, state_dtype: Any = None) -> Any:
    """float64 when the parameters (or the state) are float64 / complex128, float32 otherwise.

    Always real: counts, weights and learning rates of complex parameters are real numbers.
    """
    dts = [jnp.asarray(x).dtype for x in jax.tree.leaves(params)]
    if state_dtype is not None:
        dts.append(jnp.dtype(state_dtype))
    if any(jnp.issubdtype(d, jnp.inexact) and _finfo(d).bits == 64 for d in dts):
        return jnp.float64
    return jnp.float32


def tree_zeros(params: Any, state_dtype: Any, *, real: bool = False) -> Any:
    """Zeros shaped like ``params`` in the state dtype (its real counterpart with ``real``:
    a second moment ``|g|^2`` of complex gradients is real)."""

    def zeros(p: Any) -> jax.Array:
        dt = state_dtype_for(p, state_dtype)
        return jnp.zeros(jnp.shape(p), real_dtype(dt) if real else dt)

    return jax.tree.map(zeros, params)


def tree_copy(params: Any, state_dtype: Any) -> Any:
    """A copy of ``params`` in the state dtype.

    Always a distinct buffer (``jnp.array(copy=True)``), so that params and state can both be
    donated to a jitted step.
    """
    return jax.tree.map(
        lambda p: jnp.array(p, dtype=state_dtype_for(p, state_dtype), copy=True), params
    )


# ----------------------------------------------------------------------------- scalars


def abs_sq(g: jax.Array) -> jax.Array:
    """``|g|^2``, real for a complex ``g`` (``g * g`` for a real one), as optax's moments."""
    if is_complex(g.dtype):
        return jnp.real(g) ** 2 + jnp.imag(g) ** 2
    return g * g


def second_moment(g: jax.Array, v: jax.Array, b2: Any) -> jax.Array:
    """``b2 v + (1-b2) |g|^2`` in at least float32, stored in ``v``'s (real) dtype."""
    rdt = real_dtype(compute_dtype(g.dtype, v.dtype))
    new: jax.Array = b2 * v.astype(rdt) + (1.0 - b2) * abs_sq(g).astype(rdt)
    return new.astype(v.dtype)


def cast_to(x: jax.Array, dtype: Any) -> jax.Array:
    """``x.astype(dtype)``; a complex ``x`` cast to a real dtype keeps its real part, on purpose.

    That happens only for real parameters under a complex ``state_dtype``, where every
    imaginary part stays zero (real gradients never create one).
    """
    if is_complex(x.dtype) and not is_complex(dtype):
        x = jnp.real(x)
    return x.astype(dtype)


def recover_x(y: jax.Array, z: jax.Array, b1: jax.Array) -> jax.Array:
    """The schedule-free average from the parameters: ``y = (1-b1) z + b1 x``, so
    ``x = z + (y - z) / b1``, in the compute dtype (``b1 > 0``).

    Written around ``z`` rather than as ``(y - (1-b1) z) / b1``: ``y - z`` is small and exact,
    and ``x = z`` exactly where ``y = z`` (before the first update).
    """
    cdt = compute_dtype(y.dtype, z.dtype)
    zz = z.astype(cdt)
    return zz + (y.astype(cdt) - zz) / jnp.asarray(b1).astype(cdt)


def increment(count: jax.Array) -> jax.Array:
    """``count + 1`` that saturates instead of wrapping around at the int32 maximum."""
    limit = _iinfo(count.dtype).max
    return jnp.where(count < limit, count + 1, count)


def learning_rate_at(learning_rate: ScalarOrSchedule, count: jax.Array, dtype: Any) -> jax.Array:
    """The learning rate for the update with 0-based index ``count``."""
    lr = learning_rate(count) if callable(learning_rate) else learning_rate
    return jnp.asarray(lr, dtype=dtype)


def one_minus_pow(b: Any, t: jax.Array, dtype: Any) -> jax.Array:
    """``1 - b**t`` without cancellation: ``-expm1(t * log1p(b - 1))``.

    ``1 - 0.999**2`` computed naively in float32 keeps only ~4 significant digits; the torch
    reference computes it in float64. ``b - 1`` is exact for b in [0.5, 1] (and computed in
    float64 when ``b`` is a Python float), so this form is accurate to a few ulp for every ``t``.
    """
    t = jnp.asarray(t, dtype)
    return -jnp.expm1(t * jnp.log1p(jnp.asarray(b - 1.0, dtype)))


def two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Knuth's error-free sum: ``a + b == s + err`` exactly (``s`` rounded, ``err`` the rest)."""
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    return s, err


def compensated_add(total: jax.Array, comp: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Add ``x`` to the compensated pair (``total``, ``comp``) (Kahan-Babuska / Neumaier).

    The running weight sum of schedule-free averages grows to ~k times each weight; in float32
    a plain sum of 1e5 equal weights drifts by ~1e-3 relative. The pair keeps it to ~1e-7.
    """
    s, err = two_sum(total, x)
    return s, comp + err


# ----------------------------------------------------------------------------- trees


def is_masked_node(x: Any) -> bool:
    return isinstance(x, optax.MaskedNode)


def scalar_power(x: jax.Array, p: Any) -> jax.Array:
    """``x ** p`` that is exact for a concrete small integer ``p`` (``lr_max**2``).

    XLA's ``pow`` is ``exp(p log x)``, an ulp or two off even for ``p == 2``; the reference
    computes ``lr_max**2`` in Python. A traced or fractional ``p`` uses ``jnp.power``.
    """
    arr = concrete(p)
    if arr is not None and arr.ndim == 0 and np.isfinite(arr) and float(arr).is_integer():
        k = int(arr)
        if 0 <= k <= 16:
            return x**k
    return jnp.power(x, jnp.asarray(p, x.dtype))


def round_to(x: jax.Array, dtype: Any) -> jax.Array:
    """``x`` rounded to ``dtype``'s precision, kept in ``x``'s dtype (real if ``dtype`` is).

    ``x.astype(bf16).astype(f32)`` is not a reliable rounding inside a jitted program: XLA's
    default ``xla_allow_excess_precision`` may drop the round trip. ``reduce_precision`` is an
    explicit rounding that survives, so averages are of the iterates the user really holds.
    A complex ``x`` is rounded part by part; rounded to a real ``dtype`` it keeps its real part.
    """
    if is_complex(x.dtype):
        if not is_complex(dtype):
            return round_to(jnp.real(x), dtype)
        return jax.lax.complex(round_to(jnp.real(x), dtype), round_to(jnp.imag(x), dtype))
    fi, fx = _finfo(dtype), _finfo(x.dtype)
    if fi.bits >= fx.bits:
        return x
    return jax.lax.reduce_precision(x, exponent_bits=fi.nexp, mantissa_bits=fi.nmant)

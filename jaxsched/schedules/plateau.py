"""Reduce-on-plateau as a functional state machine that runs inside ``jit`` and ``lax.scan``.

One state machine serves both :func:`reduce_on_plateau` and its torch twin
:func:`jaxsched.compat.torch.reduce_lr_on_plateau`. Its decisions are written once, over an
array module (``numpy`` or ``jax.numpy``), and run in one of two arithmetics:

* ``precision="float32"``: on the device, in float32. Fast, no host round trip; a metric within
  a float32 rounding of ``best * (1 - threshold)`` may be judged differently from torch.
* ``precision="float64"``: exactly torch's arithmetic (Python floats are float64). The state
  carries the float64 bit patterns of ``lr`` and ``best`` as ``uint32`` pairs (so it works
  without ``jax_enable_x64``), and each update runs the same decisions in float64 NumPy on the
  host through ``jax.pure_callback``, which ``jit``, ``scan`` and ``vmap`` accept. Concrete
  metrics and hyperparameters (Python floats, NumPy values) enter as their exact float64
  value; JAX arrays enter as the float64 value of their own dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched.schedules._core import ArrayLike, f32


class PlateauState(NamedTuple):
    """State of a plateau schedule (JAX arrays, so it can be carried through ``scan``).

    The field names are torch's ``ReduceLROnPlateau`` attributes.

    Attributes:
      lr: current learning rate (float32).
      best: best metric seen so far (float32; ``+inf`` for ``mode="min"``, ``-inf`` for max).
      num_bad_epochs: updates since the last improvement, reset after a reduction (int32).
      cooldown_counter: updates left in the cooldown after a reduction (int32).
      last_epoch: number of updates so far (int32).
      exact: with ``precision="float64"``, the float64 bit patterns of ``(lr, best)`` as
        ``uint32[..., 2, 2]``; ``None`` with ``precision="float32"``.
    """

    lr: jax.Array
    best: jax.Array
    num_bad_epochs: jax.Array
    cooldown_counter: jax.Array
    last_epoch: jax.Array
    exact: jax.Array | None = None


class Plateau(NamedTuple):
    """The three pure functions of a plateau schedule: ``init``, ``update``, ``lr``."""

    init: Callable[..., PlateauState]
    update: Callable[[PlateauState, ArrayLike], PlateauState]
    lr: Callable[[PlateauState], jax.Array]


_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")
_PRECISIONS = ("float32", "float64")
_FLOAT_HPARAMS = ("factor", "threshold", "min_lr", "eps")
_INT_HPARAMS = ("patience", "cooldown")


# The decisions run over NumPy on the host (float64) or over jax.numpy on the device (float32).
_Arr = TypeVar("_Arr", np.ndarray, jax.Array)


def _decide(
    xp: ModuleType,
    mode: str,
    threshold_mode: str,
    lr: _Arr,
    best: _Arr,
    num_bad: _Arr,
    counter: _Arr,
    metric: _Arr,
    hp: Mapping[str, Any],
) -> tuple[_Arr, _Arr, _Arr, _Arr]:
    """One ``ReduceLROnPlateau.step(metric)``, in torch's order, over the array module ``xp``."""
    thr = hp["threshold"]
    if mode == "min":
        bar = best * (1.0 - thr) if threshold_mode == "rel" else best - thr
        better = metric < bar
    else:
        bar = best * (thr + 1.0) if threshold_mode == "rel" else best + thr
        better = metric > bar
    best = xp.where(better, metric, best)
    num_bad = xp.where(better, 0, num_bad + 1)
    in_cooldown = counter > 0
    counter = xp.where(in_cooldown, counter - 1, counter)
    num_bad = xp.where(in_cooldown, 0, num_bad)
    reduce = num_bad > hp["patience"]
    new_lr = xp.maximum(lr * hp["factor"], hp["min_lr"])
    lr = xp.where(reduce & (lr - new_lr > hp["eps"]), new_lr, lr)
    counter = xp.where(reduce, hp["cooldown"], counter)
    num_bad = xp.where(reduce, 0, num_bad)
    return lr, best, num_bad, counter


# -- float64 carriers ------------------------------------------------------------------------
# A value that must keep its float64 identity crosses into JAX either as its exact bits
# (uint32[..., 2], when it is concrete) or as the JAX array it already is; a static tag says
# which, so the host side decodes it. Concrete values never pass through float32.


def _bits_of(x: Any) -> np.ndarray:
    # np.array copies into a C-contiguous array and, unlike ascontiguousarray, keeps 0-d as 0-d.
    return np.array(x, np.float64)[..., None].view(np.uint32)


def _from_bits(bits: np.ndarray) -> np.ndarray:
    return np.array(bits, np.uint32).view(np.float64)[..., 0]


def _struct(shape: tuple[int, ...], dtype: Any) -> jax.ShapeDtypeStruct:
    """The shape and dtype of one result of a host callback."""
    return jax.ShapeDtypeStruct(shape, dtype)  # type: ignore[no-untyped-call]  # unannotated in jax


def _carry(x: Any) -> tuple[str, Any]:
    if isinstance(x, jax.Array):
        if isinstance(x, jax.core.Tracer):
            return "array", x
        x = np.asarray(x)
    return "bits", jnp.asarray(_bits_of(x))


def _decode(tag: str, x: Any) -> np.ndarray:
    return _from_bits(x) if tag == "bits" else np.asarray(x, np.float64)


def _host_update(
    mode: str,
    threshold_mode: str,
    tags: tuple[str, ...],
    lr_best: np.ndarray,
    num_bad: np.ndarray,
    counter: np.ndarray,
    metric: np.ndarray,
    *hps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    lr, best = (_from_bits(np.asarray(lr_best)[..., i, :]) for i in range(2))
    metric = _decode(tags[0], metric)
    hp = {n: _decode(t, x) for n, t, x in zip(_FLOAT_HPARAMS, tags[1:], hps[:4], strict=True)}
    hp.update(zip(_INT_HPARAMS, (np.asarray(x, np.int64) for x in hps[4:]), strict=True))
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 never improves, as in torch
        lr, best, num_bad, counter = _decide(
            np, mode, threshold_mode, lr, best, np.asarray(num_bad), np.asarray(counter),
            metric, hp,
        )
    shape = np.broadcast_shapes(lr.shape, best.shape, num_bad.shape, counter.shape)
    lr, best = np.broadcast_to(lr, shape), np.broadcast_to(best, shape)
    exact = np.stack([_bits_of(lr), _bits_of(best)], axis=-2)
    return (
        exact,
        lr.astype(np.float32),
        best.astype(np.float32),
        np.broadcast_to(num_bad, shape).astype(np.int32),
        np.broadcast_to(counter, shape).astype(np.int32),
    )


def _host_init(tag: str, lr: np.ndarray, worst: float) -> tuple[np.ndarray, np.ndarray]:
    lr = _decode(tag, lr)
    best = np.full(lr.shape, worst)
    return np.stack([_bits_of(lr), _bits_of(best)], axis=-2), lr.astype(np.float32)


def reduce_on_plateau(
    factor: ArrayLike = 0.1,
    patience: ArrayLike = 10,
    threshold: ArrayLike = 1e-4,
    threshold_mode: str = "rel",
    mode: str = "min",
    cooldown: ArrayLike = 0,
    min_lr: ArrayLike = 0.0,
    eps: ArrayLike = 1e-8,
    precision: str = "float32",
) -> Plateau:
    """Multiply the learning rate by ``factor`` when a metric stops improving.

    The semantics of ``torch.optim.lr_scheduler.ReduceLROnPlateau``, as pure functions. Each
    ``update(state, metric)``:

    1. ``metric`` improves on ``best`` if (``mode="min"``) ``metric < best * (1 - threshold)``
       (``"rel"``) or ``metric < best - threshold`` (``"abs"``); for ``mode="max"``,
       ``metric > best * (threshold + 1)`` or ``metric > best + threshold``. An improvement sets
       ``best = metric`` and ``num_bad_epochs = 0``, otherwise ``num_bad_epochs += 1`` (a NaN
       metric never improves).
    2. During a cooldown, ``cooldown_counter -= 1`` and ``num_bad_epochs = 0``.
    3. If ``num_bad_epochs > patience``: ``new = max(lr * factor, min_lr)``, applied only if
       ``lr - new > eps``; then ``cooldown_counter = cooldown`` and ``num_bad_epochs = 0``.

    ``init(lr)`` starts from the learning rate ``lr``; ``lr(state)`` reads the current one (as
    float32). Numeric arguments may be JAX arrays (vmap over them); ``mode``,
    ``threshold_mode`` and ``precision`` are static.

    ``precision="float32"`` (the default) decides in float32 on the device.
    ``precision="float64"`` decides in float64 exactly as torch does, including a metric that
    lands exactly on ``best * (1 - threshold)``: each update is then a host callback (see the
    module docstring), which costs a device-host round trip per update.

    >>> plateau = reduce_on_plateau(factor=0.5, patience=2)
    >>> state = plateau.init(1.0)
    >>> for loss in [1.0, 1.0, 1.0, 1.0]:
    ...     state = plateau.update(state, loss)
    >>> float(plateau.lr(state))
    0.5
    """
    v.check_in_range("factor", factor, 0.0, 1.0, high_inclusive=False)
    v.check_nonnegative("patience", patience)
    v.check_nonnegative("threshold", threshold)
    v.check_choice("threshold_mode", threshold_mode, _THRESHOLD_MODES)
    v.check_choice("mode", mode, _MODES)
    v.check_nonnegative("cooldown", cooldown)
    v.check_nonnegative("min_lr", min_lr)
    v.check_nonnegative("eps", eps)
    v.check_choice("precision", precision, _PRECISIONS)
    floats = dict(factor=factor, threshold=threshold, min_lr=min_lr, eps=eps)
    ints = dict(patience=patience, cooldown=cooldown)
    worst = np.inf if mode == "min" else -np.inf

    def lr_of(state: PlateauState) -> jax.Array:
        return state.lr

    if precision == "float32":

        def init(lr: ArrayLike) -> PlateauState:
            v.check_nonnegative("lr", lr)
            zero = jnp.zeros((), jnp.int32)
            best = jnp.full(jnp.shape(lr), worst, jnp.float32)
            return PlateauState(f32(lr), best, zero, zero, zero)

        def update(state: PlateauState, metric: ArrayLike) -> PlateauState:
            hp = {k: f32(x) for k, x in floats.items()}
            hp.update({k: jnp.asarray(x, jnp.int32) for k, x in ints.items()})
            lr, best, num_bad, counter = _decide(
                jnp, mode, threshold_mode, state.lr, state.best, state.num_bad_epochs,
                state.cooldown_counter, f32(metric), hp,
            )
            return PlateauState(
                lr=lr,
                best=best,
                num_bad_epochs=num_bad.astype(jnp.int32),
                cooldown_counter=counter.astype(jnp.int32),
                last_epoch=state.last_epoch + 1,
            )

        return Plateau(init=init, update=update, lr=lr_of)

    hp_carried = [_carry(floats[k]) for k in _FLOAT_HPARAMS]
    hp_ints = [jnp.asarray(ints[k], jnp.int32) for k in _INT_HPARAMS]

    hp_tags = tuple(t for t, _ in hp_carried)
    hp_values = [x for _, x in hp_carried]
    host_init = functools.partial(_host_init, worst=worst)

    # Jitted once per plateau (and per way the metric is carried): eager updates then reuse one
    # compiled program instead of tracing a fresh callback every call.
    @functools.partial(jax.jit, static_argnums=0)
    def init_carried(tag: str, carried: jax.Array) -> PlateauState:
        shape = carried.shape[:-1] if tag == "bits" else carried.shape
        out = (
            _struct((*shape, 2, 2), jnp.uint32),
            _struct(shape, jnp.float32),
        )
        exact, lr32 = jax.pure_callback(
            functools.partial(host_init, tag), out, carried, vmap_method="expand_dims"
        )
        zero = jnp.zeros((), jnp.int32)
        return PlateauState(lr32, jnp.full(shape, worst, jnp.float32), zero, zero, zero, exact)

    @functools.partial(jax.jit, static_argnums=0)
    def update_carried(tag: str, state: PlateauState, m: jax.Array) -> PlateauState:
        m_shape = m.shape[:-1] if tag == "bits" else m.shape
        shape = jnp.broadcast_shapes(
            state.lr.shape, state.num_bad_epochs.shape, state.cooldown_counter.shape, m_shape,
            *(jnp.shape(floats[k]) for k in _FLOAT_HPARAMS), *(x.shape for x in hp_ints),
        )
        out = (
            _struct((*shape, 2, 2), jnp.uint32),
            _struct(shape, jnp.float32),
            _struct(shape, jnp.float32),
            _struct(shape, jnp.int32),
            _struct(shape, jnp.int32),
        )
        host = functools.partial(_host_update, mode, threshold_mode, (tag, *hp_tags))
        exact, lr, best, num_bad, counter = jax.pure_callback(
            host, out, state.exact, state.num_bad_epochs, state.cooldown_counter, m,
            *hp_values, *hp_ints, vmap_method="expand_dims",
        )
        return PlateauState(lr, best, num_bad, counter, state.last_epoch + 1, exact)

    def init64(lr: ArrayLike) -> PlateauState:
        v.check_nonnegative("lr", lr)
        state: PlateauState = init_carried(*_carry(lr))  # jit's wrapper returns Any
        return state

    def update64(state: PlateauState, metric: ArrayLike) -> PlateauState:
        if state.exact is None:
            raise ValueError(
                "state: a precision='float32' plateau state was given to a precision='float64' "
                "update; start it with this plateau's init"
            )
        tag, m = _carry(metric)
        new: PlateauState = update_carried(tag, state, m)
        return new

    return Plateau(init=init64, update=update64, lr=lr_of)


__all__ = ["Plateau", "PlateauState", "reduce_on_plateau"]

"""Learning-rate noise keyed by the step (timm's ``noise_range_t`` / ``noise_pct`` family).

The noise is a pure function of ``(seed, step)``: the same step always gets the same factor,
whatever the order, batching or re-execution (a resumed run sees the noise it would have seen),
and the schedule stays a pure ``step -> lr`` function under ``jit``, ``vmap`` and ``scan``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched import _validate as v
from jaxsched.schedules._core import ArrayLike, Schedule, f32, finish
from jaxsched.schedules.registry import register

_NOISE_TYPES = ("normal", "uniform")


@register(peak=None, horizon=None, schedule_args=("schedule",),
          example="schedule=(cosine_decay:peak=0.1,decay_steps=200),noise_pct=0.08,seed=0")
def lr_noise(
    schedule: Schedule,
    noise_pct: ArrayLike = 0.67,
    noise_std: ArrayLike = 1.0,
    seed: ArrayLike = 42,
    noise_type: str = "normal",
    noise_start: ArrayLike = 0,
    noise_end: ArrayLike | None = None,
) -> Schedule:
    """``lr(t) = schedule(t) * (1 + n_t)`` for ``noise_start <= t < noise_end``, else unchanged.

    ``n_t`` is drawn from ``jax.random.fold_in(PRNGKey(seed), t)``:

    * ``"normal"``: a normal of standard deviation ``noise_std`` truncated to
      ``|n| < noise_pct`` (timm resamples until ``|n| < noise_pct``, the same distribution;
      timm accepts ``noise_std`` but does not use it: its ``noise_std=1`` is the default here);
    * ``"uniform"``: uniform on ``[-noise_pct, noise_pct)``.

    As timm's schedulers, the factor multiplies the scheduled value. The random numbers are
    JAX's, not torch's, so the noise is timm's in distribution, not sample for sample.
    ``noise_end=None``: no end. ``noise_pct``, ``noise_std`` and ``seed`` may be JAX arrays
    (``vmap`` over seeds); ``noise_type`` is static.

    Example::

        sched = lr_noise(cosine_decay(1e-3, 1000), noise_pct=0.1, seed=0)
        sched(10) == sched(10)  # True: keyed by the step
        float(sched(10)) / float(cosine_decay(1e-3, 1000)(10))  # within (0.9, 1.1)
    """
    if not callable(schedule):
        raise ValueError(f"schedule must be callable (step -> lr), got schedule={schedule!r}")
    v.check_positive("noise_pct", noise_pct)
    v.check_positive("noise_std", noise_std)
    v.check_nonnegative("seed", seed)
    c = v.concrete(seed)
    if c is not None and not np.all(np.mod(c, 1) == 0):
        raise ValueError(f"seed must be an integer, got seed={seed!r}")
    v.check_choice("noise_type", noise_type, _NOISE_TYPES)
    v.check_nonnegative("noise_start", noise_start)
    if noise_end is not None:
        v.check_positive("noise_end", noise_end)
        v.check_le("noise_start", noise_start, "noise_end", noise_end)

    def draw(key: jax.Array, pct: jax.Array, std: jax.Array) -> jax.Array:
        if noise_type == "normal":
            return std * jax.random.truncated_normal(key, -pct / std, pct / std, (), jnp.float32)
        return jax.random.uniform(key, (), jnp.float32, -pct, pct)

    def noisy(step: ArrayLike) -> jax.Array:
        base = schedule(step)
        s = jnp.maximum(jnp.asarray(step), 0)
        s_int = s.astype(jnp.int32) if not jnp.issubdtype(s.dtype, jnp.signedinteger) else s
        root = jax.random.PRNGKey(jnp.asarray(seed).astype(jnp.int32))
        pct, std = f32(noise_pct), f32(noise_std)
        keys = jax.vmap(lambda k: jax.random.fold_in(root, k))(jnp.ravel(s_int))
        n = jax.vmap(lambda k: draw(k, pct, std))(keys).reshape(jnp.shape(s_int))
        t = f32(s)
        apply = t >= f32(noise_start)
        if noise_end is not None:
            apply = apply & (t < f32(noise_end))
        return finish(base * (1.0 + jnp.where(apply, n, 0.0)), t)

    return noisy


__all__ = ["lr_noise"]

"""Step and length conversion shared by the compat twins (torch and SambaFlow count in integers).

>>> int(integer_steps(-3)), integer_steps(jnp.arange(3)).dtype.name
(0, 'int32')
>>> integer_steps(1.5)
Traceback (most recent call last):
...
ValueError: step must be an integer, got step=1.5
>>> length("T_max", 10.0, 1)
10
>>> length("T_max", 2**31, 1)
Traceback (most recent call last):
...
ValueError: T_max must be < 2**31, got T_max=2147483648
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsched._validate import concrete

_INT32_MAX = np.iinfo(np.int32).max


def integer_steps(step: jax.typing.ArrayLike) -> jax.Array:
    """The step as int32, negative steps counting as 0; a non-integer concrete step is refused."""
    s = jnp.asarray(step)
    if not jnp.issubdtype(s.dtype, jnp.integer):
        if s.dtype == jnp.bool_:
            raise ValueError(f"step must be an integer, got step={step!r}")
        c = concrete(s)
        if c is not None and not np.all(np.isfinite(c) & (np.floor(c) == c)):
            raise ValueError(f"step must be an integer, got step={step!r}")
        s = jnp.floor(s)
    return jnp.maximum(s.astype(jnp.int32), 0)


def length(name: str, value: Any, minimum: int) -> int | jax.Array:
    """A length (integer hyperparameter): a Python int when concrete, else int32.

    A concrete value must be a whole number (``10.0`` is accepted), at least ``minimum`` and
    below 2**31 (the steps are int32); a traced one is cast and cannot be checked.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer, got {name}={value!r}")
    c = concrete(value)
    if c is None:
        return jnp.asarray(value).astype(jnp.int32)
    if (
        not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating))
        or not np.all(np.isfinite(c))
        or not np.all(np.floor(c) == c)
    ):
        raise ValueError(f"{name} must be an integer, got {name}={value!r}")
    if np.any(c < minimum):
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value!r}")
    if np.any(c > _INT32_MAX):
        raise ValueError(f"{name} must be < 2**31, got {name}={value!r}")
    if c.ndim == 0:
        return int(c)
    return jnp.asarray(c, dtype=jnp.int32)

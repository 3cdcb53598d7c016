"""Validation of schedule hyperparameters.

Hyperparameters may be Python numbers, NumPy values or JAX arrays (so that a sweep can ``vmap``
over them). They are checked only when they are concrete: a traced value cannot be inspected
without a host sync, so the check is skipped for it rather than guessed. Every failure raises
``ValueError`` naming the argument and the offending value.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array when it is known on the host, ``None`` when it is traced."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value)
    except Exception:  # noqa: BLE001 - e.g. abstract values inside transformations
        return None


def _fail(name: str, value: Any, requirement: str) -> None:
    raise ValueError(f"{name} must be {requirement}, got {name}={_show(value)}")


def _show(value: Any) -> str:
    arr = concrete(value)
    if arr is None:
        return repr(value)
    if arr.ndim == 0:
        return repr(arr.item())
    return np.array2string(arr, threshold=8)


def check_finite(name: str, value: Any) -> None:
    arr = concrete(value)
    if arr is None:
        return
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        _fail(name, value, "a number")
    if not np.all(np.isfinite(arr)):
        _fail(name, value, "finite")


def check_nonnegative(name: str, value: Any) -> None:
    check_finite(name, value)
    arr = concrete(value)
    if arr is not None and np.any(arr < 0):
        _fail(name, value, ">= 0")


def check_positive(name: str, value: Any) -> None:
    check_finite(name, value)
    arr = concrete(value)
    if arr is not None and np.any(arr <= 0):
        _fail(name, value, "> 0")


def check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    check_finite(name, value)
    arr = concrete(value)
    if arr is None:
        return
    ok_low = np.all(arr >= low) if low_inclusive else np.all(arr > low)
    ok_high = np.all(arr <= high) if high_inclusive else np.all(arr < high)
    if not (ok_low and ok_high):
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        _fail(name, value, f"in {lb}{low}, {high}{hb}")


def check_le(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Require ``a <= b`` where both are concrete."""
    arr_a, arr_b = concrete(a), concrete(b)
    if arr_a is None or arr_b is None:
        return
    if np.any(arr_a > arr_b):
        raise ValueError(
            f"{name_a} must be <= {name_b}, got {name_a}={_show(a)} and {name_b}={_show(b)}"
        )


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {name}={value!r}")


def check_int(name: str, value: Any, *, minimum: int | None = None) -> None:
    """Require a static Python integer (structural arguments cannot be traced)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {name}={value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value!r}")


def check_sorted(name: str, values: Any, *, strict: bool = True) -> None:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence, got {name}={values!r}")
    diffs = np.diff(arr)
    if (strict and np.any(diffs <= 0)) or (not strict and np.any(diffs < 0)):
        order = "strictly increasing" if strict else "non-decreasing"
        raise ValueError(f"{name} must be {order}, got {name}={list(arr.tolist())}")


def check_ge(name: str, value: Any, minimum: float) -> None:
    """Require ``value >= minimum`` where concrete."""
    check_finite(name, value)
    arr = concrete(value)
    if arr is not None and np.any(arr < minimum):
        _fail(name, value, f">= {minimum}")


def check_bool(name: str, value: Any) -> None:
    """Require a static Python bool (a flag that selects code, so it cannot be traced)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool, got {name}={value!r}")

"""Name -> constructor registry, and schedules built from ``"name:arg=value,..."`` specs."""

from __future__ import annotations

import ast
from collections.abc import Callable

from jaxsched.schedules._core import Schedule
from jaxsched.schedules.basic import constant, cosine_decay, linear_decay, polynomial_decay
from jaxsched.schedules.compose import join, product
from jaxsched.schedules.cyclic import cosine_restarts, cyclical, one_cycle
from jaxsched.schedules.decay import (
    exponential_decay,
    inverse_sqrt,
    inverse_time,
    natural_exp_decay,
)
from jaxsched.schedules.steps import multistep, piecewise_constant, step_decay, stepwise_drop
from jaxsched.schedules.warmup import (
    warmup,
    warmup_cosine_decay,
    warmup_linear_decay,
    warmup_stable_decay,
)

SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": constant,
    "linear_decay": linear_decay,
    "cosine_decay": cosine_decay,
    "polynomial_decay": polynomial_decay,
    "stepwise_drop": stepwise_drop,
    "step_decay": step_decay,
    "multistep": multistep,
    "piecewise_constant": piecewise_constant,
    "exponential_decay": exponential_decay,
    "natural_exp_decay": natural_exp_decay,
    "inverse_sqrt": inverse_sqrt,
    "inverse_time": inverse_time,
    "cosine_restarts": cosine_restarts,
    "cyclical": cyclical,
    "one_cycle": one_cycle,
    "warmup_linear_decay": warmup_linear_decay,
    "warmup_cosine_decay": warmup_cosine_decay,
    "warmup_stable_decay": warmup_stable_decay,
    "warmup": warmup,
    "join": join,
    "product": product,
}
"""Every public schedule constructor by name. ``warmup``, ``join`` and ``product`` take schedules
as arguments (see :data:`COMBINATORS`); the others take numbers (and, for ``multistep`` and
``piecewise_constant``, a list or dict of steps). ``reduce_on_plateau`` is not here: it is a
state machine driven by a metric, not a function of the step."""

COMBINATORS: frozenset[str] = frozenset({"warmup", "join", "product"})
"""Registry names whose constructors take other schedules (not buildable from a flat spec)."""


def get(name: str) -> Callable[..., Schedule]:
    """The constructor registered as ``name``; ``ValueError`` listing the valid names otherwise.

    Example::

        sched = get("cosine_decay")(peak=1e-3, decay_steps=1000)
    """
    try:
        return SCHEDULES[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(SCHEDULES))
        raise ValueError(f"unknown schedule name={name!r}; valid names: {valid}") from None


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets or braces."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word such as a mode string: cyclical:mode=triangular2


def parse_spec(spec: str) -> tuple[str, dict]:
    """Split ``"name:arg=value,arg=value"`` into ``(name, kwargs)``.

    Values are Python literals (``1e-3``, ``100``, ``True``, ``[50, 75]``, ``{100: 0.1}``);
    anything else is kept as a string (``mode=triangular2``).

    Example::

        parse_spec("multistep:peak=1e-3,milestones=[50,75]")
        # ('multistep', {'peak': 0.001, 'milestones': [50, 75]})
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"spec must be a non-empty string 'name:arg=value,...', got spec={spec!r}")
    name, _, rest = spec.partition(":")
    name = name.strip()
    kwargs = {}
    for item in _split_top_level(rest):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise ValueError(
                f"spec arguments must look like arg=value, got {item!r} in spec={spec!r}"
            )
        if key in kwargs:
            raise ValueError(f"spec gives argument {key!r} twice in spec={spec!r}")
        kwargs[key] = _parse_value(value.strip())
    return name, kwargs


def from_spec(spec: str) -> Schedule:
    """Build a schedule from ``"name:arg=value,..."`` (see :func:`parse_spec`).

    An unknown name or argument raises ``ValueError``.

    Example::

        sched = from_spec("cosine_decay:peak=1e-3,decay_steps=1000")
    """
    name, kwargs = parse_spec(spec)
    if name in COMBINATORS:
        raise ValueError(
            f"schedule name={name!r} takes other schedules and cannot be built from a spec; "
            "use one of the warmup_* schedules or call it from Python"
        )
    constructor = get(name)
    try:
        return constructor(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments for schedule {name!r} in spec={spec!r}: {err}") from None

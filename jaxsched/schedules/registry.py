"""The schedule registry and the one spec grammar ``NAME[:key=value,...][@label]``.

Every schedule kind is registered once, where it is defined, with the argument that carries its
peak learning rate, the one that carries its horizon (or ``None`` where it has no such
argument) and an example: the trainer fills peak and horizon from ``--lr`` and ``--steps`` and
nothing is guessed from argument names; the tests, the gallery and the documentation take
every kind's example from here. A new kind is one decorator on its constructor::

    @register(peak="peak", horizon="decay_steps", example="power=2")
    def polynomial_decay(peak, decay_steps, end_value=0.0, power=1.0): ...

A spec names a kind and its arguments. A value is an int (``1000``, ``100_000``), a float
(``0.1``, ``1e-3``, ``inf``), a bool (``true``/``false``), ``None``, a list (``[30,60]`` or
``30;60``), a dict (``{100:0.5;200:0.5}``), a quoted string, or a bare word (``triangular2``)
where the argument takes a string. Arguments that take schedules (``warmup``'s ``schedule``,
``join``'s and ``product``'s ``schedules``) take nested specs in parentheses::

    warmup:schedule=(cosine_decay:peak=1e-3,decay_steps=900),warmup_steps=100
    join:schedules=[(constant:value=1e-3);(linear_decay:peak=1e-3,decay_steps=500)],boundaries=[100]

A nested spec gets nothing filled in: only the outermost kind takes ``--lr`` and ``--steps``.

Other libraries' twins (:mod:`jaxsched.compat`) register a *namespace* when imported: their
functions are then reachable in a spec as ``torch.<name>`` and ``sambaflow.<name>``
(:func:`resolve`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar, overload

from jaxsched.schedules._core import Schedule

__all__ = [
    "COMBINATORS",
    "KINDS",
    "SCHEDULES",
    "Kind",
    "Spec",
    "available",
    "build",
    "example",
    "fill",
    "from_spec",
    "get",
    "parse",
    "parse_spec",
    "register",
    "register_namespace",
    "resolve",
]


class Kind(NamedTuple):
    """A registered schedule kind.

    Attributes:
      fn: the public constructor.
      peak: the argument that is the peak learning rate (``None``: the kind has none).
      horizon: the argument that is the schedule's horizon in steps (``None``: no horizon; a
        period or a time unit such as ``inverse_time``'s ``decay_steps`` is not one).
      schedule_args: arguments that take schedules (nested specs).
      example: spec arguments besides the peak and the horizon that make a typical schedule
        over a horizon of about 200 steps (``""``: none needed).
    """

    fn: Callable[..., Schedule]
    peak: str | None
    horizon: str | None
    schedule_args: tuple[str, ...] = ()
    example: str = ""


class Spec(NamedTuple):
    """A parsed spec: the kind's name, its arguments (JSON-able) and the label (``""``: none)."""

    name: str
    kwargs: dict[str, Any]
    label: str


KINDS: dict[str, Kind] = {}
"""Every registered kind by name."""

SCHEDULES: dict[str, Callable[..., Schedule]] = {}
"""Every registered constructor by name (``KINDS[name].fn``). ``reduce_on_plateau`` is not
here: it is a state machine driven by a metric, not a function of the step."""

COMBINATORS: set[str] = set()
"""Names of the kinds that take other schedules as arguments (nested specs)."""

_NAMESPACES: dict[str, str] = {}


_Constructor = TypeVar("_Constructor", bound=Callable[..., Schedule])


@overload
def register(
    name: str,
    fn: Callable[..., Schedule],
    *,
    peak: str | None,
    horizon: str | None,
    schedule_args: tuple[str, ...] = (),
    example: str = "",
) -> None: ...


@overload
def register(
    name: str | None = None,
    fn: None = None,
    *,
    peak: str | None,
    horizon: str | None,
    schedule_args: tuple[str, ...] = (),
    example: str = "",
) -> Callable[[_Constructor], _Constructor]: ...


def register(
    name: str | None = None,
    fn: Callable[..., Schedule] | None = None,
    *,
    peak: str | None,
    horizon: str | None,
    schedule_args: tuple[str, ...] = (),
    example: str = "",
) -> Callable[[_Constructor], _Constructor] | None:
    """Add a kind; ``peak``/``horizon`` must be arguments of ``fn`` (or ``None``).

    As ``register("name", fn, ...)``, or as a decorator ``@register(peak=..., horizon=...)``
    (the kind's name is then the function's). Returns the decorated function unchanged.

    >>> from jaxsched.schedules import cosine_decay
    >>> def halved(peak, decay_steps):
    ...     return cosine_decay(peak / 2, decay_steps)
    >>> register("halved_cosine", halved, peak="peak", horizon="decay_steps")
    >>> float(build("halved_cosine", peak=1.0, horizon=10)(0))
    0.5
    >>> unregister("halved_cosine")
    """

    def add(name: str, fn: Callable[..., Schedule]) -> None:
        params = inspect.signature(fn).parameters
        roles = [("peak", peak), ("horizon", horizon), *(("schedule", a) for a in schedule_args)]
        for role, arg in roles:
            if arg is not None and arg not in params:
                raise ValueError(f"{role} must name an argument of {name!r}, got {role}={arg!r}")
        KINDS[name] = Kind(fn, peak, horizon, tuple(schedule_args), example)
        SCHEDULES[name] = fn
        COMBINATORS.discard(name)
        if schedule_args:
            COMBINATORS.add(name)

    if fn is not None:
        if not isinstance(name, str):
            raise ValueError(f"name must be a string, got name={name!r}")
        add(name, fn)
        return None

    def decorator(f: _Constructor) -> _Constructor:
        add(name or f.__name__, f)
        return f

    return decorator


def unregister(name: str) -> None:
    """Remove the kind ``name`` (for tests and examples that register a temporary kind)."""
    get_kind(name)
    del KINDS[name], SCHEDULES[name]
    COMBINATORS.discard(name)


def get_kind(name: str) -> Kind:
    """The kind registered as ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(KINDS))
        raise ValueError(f"unknown schedule name={name!r}; valid names: {valid}") from None


def get(name: str) -> Callable[..., Schedule]:
    """The constructor registered as ``name``; ``ValueError`` listing the valid names otherwise.

    >>> from jaxsched.schedules import cosine_decay
    >>> get("cosine_decay") is cosine_decay
    True
    """
    return get_kind(name).fn


# --------------------------------------------------------------------------- grammar

_OPEN = {"[": "]", "(": ")", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _split_top(text: str, seps: str, spec: str) -> list[str]:
    """Split ``text`` at separators outside brackets and quotes."""
    parts, depth, quote, start = [], [], None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth.append(_OPEN[ch])
        elif ch in _CLOSE:
            if not depth or depth.pop() != ch:
                raise ValueError(f"schedule spec {spec!r}: unbalanced {ch!r} in {text!r}")
        elif ch in seps and not depth:
            parts.append(text[start:i])
            start = i + 1
    if depth or quote:
        raise ValueError(f"schedule spec {spec!r}: unclosed bracket or quote in {text!r}")
    parts.append(text[start:])
    return parts


def _split_label(spec: str) -> tuple[str, str]:
    """``(head, label)`` at the last ``@`` outside brackets (a nested spec may carry its own)."""
    depth = 0
    for i in range(len(spec) - 1, -1, -1):
        ch = spec[i]
        if ch in _CLOSE:
            depth += 1
        elif ch in _OPEN:
            depth -= 1
        elif ch == "@" and depth == 0:
            if not spec[i + 1 :].strip():
                raise ValueError(f"schedule spec {spec!r}: empty label after '@'")
            return spec[:i], spec[i + 1 :].strip()
    return spec, ""


def _parse_arguments(argtext: str, spec: str) -> list[tuple[str, str]]:
    if not argtext.strip():
        return []
    out: list[tuple[str, str]] = []
    for item in _split_top(argtext, ",", spec):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"schedule spec {spec!r}: argument {item.strip()!r} is not key=value")
        if not key.isidentifier():
            raise ValueError(f"schedule spec {spec!r}: bad argument name {key!r}")
        if any(k == key for k, _ in out):
            raise ValueError(f"schedule spec {spec!r}: argument {key!r} given twice")
        out.append((key, value))
    return out


def parse_value(text: str, *, spec: str = "", key: str = "value") -> Any:
    """One argument value of a spec (see the module docstring for the grammar).

    >>> parse_value("[30, 60]"), parse_value("30;60"), parse_value("{100:0.5}")
    ([30, 60], [30, 60], {100: 0.5})
    >>> parse_value("1e-3"), parse_value("100_000"), parse_value("true"), parse_value("none")
    (0.001, 100000, True, None)
    """
    s = text.strip()
    bad = f"schedule spec {spec!r}: bad value {s!r} for {key}"
    if not s:
        raise ValueError(f"{bad}: empty")
    if s[0] in "[(":
        if s[-1] != _OPEN[s[0]]:
            raise ValueError(f"{bad}: unclosed {s[0]!r}")
        inner = s[1:-1]
        if not inner.strip():
            return []
        return [parse_value(p, spec=spec, key=key) for p in _split_top(inner, ",;", spec)]
    if s[0] == "{":
        if s[-1] != "}":
            raise ValueError(f"{bad}: unclosed '{{'")
        inner = s[1:-1]
        result = {}
        if inner.strip():
            for item in _split_top(inner, ",;", spec):
                k, colon, v = item.partition(":")
                if not colon:
                    raise ValueError(f"{bad}: dict item {item.strip()!r} is not key:value")
                result[parse_value(k, spec=spec, key=key)] = parse_value(v, spec=spec, key=key)
        return result
    if len(_split_top(s, ";", spec)) > 1:
        return [parse_value(p, spec=spec, key=key) for p in _split_top(s, ";", spec)]
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    lowered = s.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        pass
    if _BARE_WORD.fullmatch(s):
        return s
    raise ValueError(f"{bad}: not a number, bool, None, list or word")


def _parse_nested(text: str, *, spec: str, key: str) -> Any:
    """A schedule-valued argument: a nested spec (string), a number, or a list of those."""
    s = text.strip()
    if s[:1] == "(" and s[-1:] == ")":
        s = s[1:-1].strip()
    elif s[:1] == "[" and s[-1:] == "]":
        return [_parse_nested(p, spec=spec, key=key) for p in _split_top(s[1:-1], ",;", spec)]
    if not s:
        raise ValueError(f"schedule spec {spec!r}: bad value {text.strip()!r} for {key}: empty")
    try:
        return float(s) if "." in s or "e" in s.lower() else int(s)
    except ValueError:
        parse(s)  # a bad nested spec fails now, naming itself
        return s


def _parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return None
    return dict(sig.parameters)


def _takes_string(param: inspect.Parameter | None) -> bool:
    """Whether a bare word may be passed: the argument is a mode/strategy-like string."""
    if param is None:
        return True
    if isinstance(param.default, str):
        return True
    annotation = param.annotation
    if annotation is inspect.Parameter.empty:
        return False
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return bool(re.search(r"\bstr\b|Literal", text))


def _lookup(name: str, spec: str, table: Mapping[str, Callable[..., Any]]) -> Callable[..., Any]:
    if name not in table:
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"schedule spec {spec!r}: unknown schedule {name!r}{hint} "
            "(`jaxsched plot --list` shows the names)"
        )
    return table[name]


def parse(spec: str, *, table: Mapping[str, Callable[..., Any]] | None = None) -> Spec:
    """Parse ``NAME[:key=value,...][@label]`` into a :class:`Spec`, without building it.

    ``table`` maps names to constructors (default: this registry); argument names are checked
    against the constructor's signature. Without ``@label`` the label is
    ``NAME(key=value, ...)`` when there are arguments, ``""`` otherwise.

    >>> parse("stepwise_drop:fraction=0.25@drop")
    Spec(name='stepwise_drop', kwargs={'fraction': 0.25}, label='drop')
    >>> parse("warmup:schedule=(constant:value=0.1),warmup_steps=10").kwargs
    {'schedule': 'constant:value=0.1', 'warmup_steps': 10}
    >>> parse("cosine_decay:peek=1")
    Traceback (most recent call last):
    ...
    ValueError: schedule spec 'cosine_decay:peek=1': cosine_decay has no argument 'peek' ...
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"schedule spec must be a non-empty string, got {spec!r}")
    head, label = _split_label(spec)
    name, _, argtext = head.partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"schedule spec {spec!r}: missing schedule name before ':'")
    factory = _lookup(name, spec, SCHEDULES if table is None else table)
    kind = KINDS.get(name) if table is None or table.get(name) is SCHEDULES.get(name) else None
    nested = kind.schedule_args if kind is not None else ()

    raw = _parse_arguments(argtext, spec)
    params = _parameters(factory)
    var_keyword = params is None or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    named = {
        n: p
        for n, p in (params or {}).items()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }
    kwargs: dict[str, Any] = {}
    for key, text in raw:
        if key in nested:
            kwargs[key] = _parse_nested(text, spec=spec, key=key)
            continue
        if params is not None and key not in named and not var_keyword:
            raise ValueError(
                f"schedule spec {spec!r}: {name} has no argument {key!r} "
                f"(it takes {', '.join(named) or 'no arguments'})"
            )
        value = parse_value(text, spec=spec, key=key)
        bare_word = isinstance(value, str) and text.strip()[:1] not in ("'", '"')
        if bare_word and params is not None and not _takes_string(named.get(key)):
            raise ValueError(
                f"schedule spec {spec!r}: bad value {text.strip()!r} for {key}: expected a "
                "number, bool, None or list"
            )
        kwargs[key] = value
    if not label and raw:
        label = f"{name}({', '.join(f'{k}={t.strip()}' for k, t in raw)})"
    return Spec(name, kwargs, label)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``(name, kwargs)`` of a spec of this registry (see :func:`parse`).

    >>> parse_spec("multistep:peak=1e-3,milestones=[50,75]")
    ('multistep', {'peak': 0.001, 'milestones': [50, 75]})
    """
    name, kwargs, _ = parse(spec)
    return name, kwargs


# --------------------------------------------------------------------------- building


def fill(
    name: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    peak: Any = None,
    horizon: Any = None,
) -> dict[str, Any]:
    """``kwargs`` with the kind's peak and horizon arguments added where not given.

    A kind without a peak (or horizon) argument ignores ``peak`` (or ``horizon``).

    >>> fill("cosine_decay", {"end_value": 0.0}, peak=1e-3, horizon=100)
    {'end_value': 0.0, 'peak': 0.001, 'decay_steps': 100}
    >>> fill("inverse_time", {"decay_rate": 0.5}, peak=1e-3, horizon=100)
    {'decay_rate': 0.5, 'peak': 0.001}
    """
    kind = get_kind(name)
    out = dict(kwargs or {})
    if kind.peak is not None and peak is not None:
        out.setdefault(kind.peak, peak)
    if kind.horizon is not None and horizon is not None:
        out.setdefault(kind.horizon, horizon)
    return out


def _build_nested(value: Any) -> Any:
    if isinstance(value, str):
        return from_spec(value)
    if isinstance(value, (list, tuple)):
        return [_build_nested(v) for v in value]
    return value


def build(
    name: str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    peak: Any = None,
    horizon: Any = None,
) -> Schedule:
    """The schedule ``name(**kwargs)``, with ``peak``/``horizon`` filled in (see :func:`fill`).

    Nested specs (strings) in schedule-valued arguments are built first. A missing or unknown
    argument raises ``ValueError`` naming it, as does the constructor's own validation.

    >>> float(build("cosine_decay", peak=1.0, horizon=100)(50))
    0.5
    >>> build("cyclical", peak=1.0, horizon=100)
    Traceback (most recent call last):
    ...
    ValueError: schedule 'cyclical' needs the arguments base_lr, step_size_up (it takes ...)
    """
    kind = get_kind(name)
    args = fill(name, kwargs, peak=peak, horizon=horizon)
    params = inspect.signature(kind.fn).parameters
    named = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    star = next(
        (n for n, p in params.items() if p.kind is inspect.Parameter.VAR_POSITIONAL), None
    )
    unknown = [k for k in args if k not in named and k != star]
    if unknown:
        raise ValueError(
            f"schedule {name!r} has no argument {unknown[0]!r} (it takes {', '.join(params)})"
        )
    missing = [
        n
        for n, p in params.items()
        if n not in args
        and p.kind is not inspect.Parameter.VAR_KEYWORD
        and (p.default is inspect.Parameter.empty or n == star)
    ]
    if missing:
        peak_role = f"its peak is {kind.peak}" if kind.peak else "it has no peak argument"
        horizon_role = f"its horizon {kind.horizon}" if kind.horizon else "no horizon argument"
        raise ValueError(
            f"schedule {name!r} needs the argument{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (it takes {', '.join(params)}; {peak_role}, {horizon_role})"
            + (
                f"; schedules go in as nested specs, e.g. {name}:{kind.schedule_args[0]}="
                + ("[(constant:value=1e-3)]" if name != "warmup" else "(constant:value=1e-3)")
                if kind.schedule_args
                else ""
            )
        )
    for key in kind.schedule_args:
        if key in args:
            args[key] = _build_nested(args[key])
    positional = list(args.pop(star)) if star is not None else []
    try:
        return kind.fn(*positional, **args)
    except TypeError as err:
        raise ValueError(f"bad arguments for schedule {name!r}: {err}") from None


def from_spec(spec: str) -> Schedule:
    """Build a schedule from a spec (see :func:`parse`); nothing is filled in.

    >>> float(from_spec("cosine_decay:peak=1e-3,decay_steps=1000")(500))
    0.0005
    >>> sched = from_spec("warmup:schedule=(cosine_decay:peak=1.0,decay_steps=10),warmup_steps=5")
    >>> [round(float(sched(t)), 3) for t in (0, 5, 10, 15)]
    [0.0, 1.0, 0.5, 0.0]
    """
    name, kwargs, _ = parse(spec)
    try:
        return build(name, kwargs)
    except ValueError as err:
        raise ValueError(f"schedule spec {spec!r}: {err}") from None


def example(name: str, *, peak: Any = 0.1, horizon: Any = 200) -> Schedule:
    """The kind's registered example, built with ``peak`` and ``horizon`` filled in.

    >>> round(float(example("step_decay", peak=1.0)(120)), 3)
    0.25
    """
    kind = get_kind(name)
    kwargs = parse(f"{name}:{kind.example}").kwargs if kind.example else {}
    return build(name, kwargs, peak=peak, horizon=horizon)


# --------------------------------------------------------------------------- namespaces


def register_namespace(prefix: str, module: str) -> None:
    """Make the public functions of ``module`` reachable as ``<prefix>.<name>`` in specs.

    :mod:`jaxsched.compat.torch` and :mod:`jaxsched.compat.sambaflow` call this when imported;
    the module's ``__all__`` lists its schedule functions.
    """
    if not isinstance(prefix, str) or not prefix.isidentifier():
        raise ValueError(f"prefix must be an identifier, got prefix={prefix!r}")
    _NAMESPACES[prefix] = module


def _namespace_table(prefix: str) -> dict[str, Callable[..., Schedule]]:
    module = importlib.import_module(_NAMESPACES[prefix])
    names = getattr(module, "__all__", None) or [
        n for n, obj in vars(module).items()
        if not n.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module.__name__
    ]
    return {
        f"{prefix}.{n}": getattr(module, n) for n in sorted(names)
        if callable(getattr(module, n, None)) and not isinstance(getattr(module, n), type)
    }


def available() -> dict[str, Callable[..., Schedule]]:
    """Every constructor a spec can name: the kinds, and ``<prefix>.<name>`` of every
    registered namespace (import :mod:`jaxsched.compat` to register torch's and SambaFlow's).

    >>> import jaxsched.compat
    >>> "cosine_decay" in available(), "torch.cosine_annealing_lr" in available()
    (True, True)
    """
    found: dict[str, Callable[..., Schedule]] = dict(SCHEDULES)
    for prefix in _NAMESPACES:
        found.update(_namespace_table(prefix))
    return found


def _table_for(name: str) -> Mapping[str, Callable[..., Schedule]]:
    """The part of :func:`available` that can hold ``name`` (imports only that)."""
    prefix, dot, _ = name.partition(".")
    if dot and prefix in _NAMESPACES:
        return _namespace_table(prefix)
    return SCHEDULES


def resolve(
    spec: str, *, table: Mapping[str, Callable[..., Schedule]] | None = None
) -> tuple[str, Schedule]:
    """``(label, schedule)`` from a spec over :func:`available` (or ``table``).

    Without ``@label`` the label is ``NAME(key=value, ...)``, or ``NAME`` without arguments.

    >>> import jax.numpy as jnp, jaxsched.compat
    >>> label, f = resolve("torch.multi_step_lr:lr=0.1,milestones=[30,60]@steps")
    >>> label, [round(float(x), 4) for x in f(jnp.array([0, 30, 60]))]
    ('steps', [0.1, 0.01, 0.001])

    Raises:
        ValueError: naming the spec and the offending part (unknown name, bad key, bad or
            missing value, or the factory's own rejection of the arguments).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"schedule spec must be a non-empty string, got {spec!r}")
    head = spec.partition(":")[0].partition("@")[0].strip()
    table = _table_for(head) if table is None else table
    name, kwargs, label = parse(spec, table=table)
    factory = table[name]
    try:
        if factory is SCHEDULES.get(name):
            schedule = build(name, kwargs)
        else:
            params = _parameters(factory)
            if params is not None:
                inspect.signature(factory).bind(**kwargs)
            schedule = factory(**kwargs)
    except TypeError as err:
        raise ValueError(f"schedule spec {spec!r}: {name}: {err}") from err
    except ValueError as err:
        raise ValueError(f"schedule spec {spec!r}: {err}") from err
    if not callable(schedule):
        raise ValueError(
            f"schedule spec {spec!r}: {name} returns a {type(schedule).__name__}, "
            "not a step -> learning-rate schedule"
        )
    return label or name, schedule

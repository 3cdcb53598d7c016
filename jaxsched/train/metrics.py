"""Metrics while training: one writer interface, a JSON-lines file and TensorBoard event files.

A *metric writer* has the shape of clu's ``MetricWriter``: ``write_scalars(step, scalars)``
records named numbers at a step, ``flush()`` makes what was written visible to readers and
``close()`` flushes and releases the writer. The runner (:class:`~jaxsched.train.runner.Runner`)
writes every run's metrics through this interface, once per chunk of steps:

* ``{"loss": x}`` at every step ``s`` (``1 .. train_steps``): the training loss of the run's
  ``s``-th step, ``losses.npy[s - 1]``;
* ``{"eval/<name>": x, ...}`` at every evaluated step: every metric of the task's
  ``evaluate``, the record ``eval.json`` keeps for that step.

Two writers are built in:

* :class:`JsonlWriter` writes ``metrics.jsonl`` in every run directory, one JSON object per
  line: ``{"step": s, "loss": x}`` per step and ``{"step": s, "eval": {<name>: x, ...}}`` per
  evaluation (the ``eval/`` keys of one call, without the prefix). Lines are appended at every
  chunk, so ``tail -f`` follows a run while it trains.
* :class:`TensorBoardWriter` writes TensorBoard event files through ``tensorboardX`` (no
  TensorFlow), the keys as tags; the optional extra ``jaxsched[tensorboard]`` installs it.
  ``jaxsched train|reproduce|compare --tensorboard DIR`` gives every run its own subdirectory
  ``DIR/<run id>``, so ``tensorboard --logdir DIR`` shows the runs side by side.

A run that resumes starts its record again from what its checkpoint holds: both writers take
``replace=True``, the runner writes the run's history (its ``losses.npy`` and ``eval.json``
up to the checkpoint) and the first ``flush`` replaces what was there, the JSON-lines file
atomically, the event files by deleting the older ones once the new one is written. Steps a
killed process wrote past its last checkpoint are thereby dropped and trained again, so
neither file repeats or loses a step.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
>>> with JsonlWriter(path) as w:
...     w.write_scalars(1, {"loss": 2.5})
...     w.write_scalars(2, {"loss": 2.25})
...     w.write_scalars(2, {"eval/loss": 2.0, "eval/accuracy": 0.25})
>>> print(path.read_text(), end="")
{"step": 1, "loss": 2.5}
{"step": 2, "loss": 2.25}
{"step": 2, "eval": {"loss": 2.0, "accuracy": 0.25}}
>>> read_jsonl(path)[2]["eval"]["accuracy"]
0.25
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from jaxsched._io import atomic_write_text

__all__ = [
    "EVAL_PREFIX",
    "EVENT_FILE_PREFIX",
    "JsonlWriter",
    "MetricWriter",
    "TensorBoardUnavailableError",
    "TensorBoardWriter",
    "eval_scalars",
    "has_event_files",
    "progress_postfix",
    "read_jsonl",
    "require_tensorboard",
    "write_history",
]

EVAL_PREFIX = "eval/"
"""Scalars whose names start with this are one evaluation's metrics."""

EVENT_FILE_PREFIX = "events.out.tfevents."
"""How TensorBoard event files' names start (the files a :class:`TensorBoardWriter` replaces)."""

INSTALL_HINT = "pip install 'jaxsched[tensorboard]'"


@runtime_checkable
class MetricWriter(Protocol):
    """Where a run's scalars go (the shape of clu's ``metric_writers.MetricWriter``)."""

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Record ``scalars`` (name -> number) at ``step``."""

    def flush(self) -> None:
        """Make everything written so far visible to readers."""

    def close(self) -> None:
        """Flush and release the writer; safe to call twice."""


def _check_scalars(step: Any, scalars: Any) -> tuple[int, dict[str, float]]:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step must be an integer >= 0, got step={step!r}")
    if not isinstance(scalars, Mapping):
        raise ValueError(f"scalars must be a mapping of name -> number, got scalars={scalars!r}")
    out = {}
    for name, value in scalars.items():
        if not isinstance(name, str) or not name or name == EVAL_PREFIX:
            raise ValueError(f"scalar names must be non-empty strings, got name={name!r}")
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"scalars[{name!r}] must be a number, got {value!r}") from None
    return int(step), out


class _Writer:
    """What the built-in writers share: ``with writer:`` closes it at the end of the block, and
    a closed writer refuses more scalars."""

    _closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # type: ignore[attr-defined]

    def _checked(self, step: Any, scalars: Any) -> tuple[int, dict[str, float]]:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        return _check_scalars(step, scalars)


# --------------------------------------------------------------------------------------------
# metrics.jsonl


class JsonlWriter(_Writer):
    """Appends one JSON object per line to ``path`` at every ``flush``.

    ``write_scalars(step, scalars)`` gives at most two lines: ``{"step": step, <the other
    scalars>}`` and ``{"step": step, "eval": {<the eval/ scalars, unprefixed>}}``. Lines are
    held in memory until ``flush``; ``close`` also fsyncs the file. Non-finite values are
    written as Python's ``json`` writes them (``NaN``, ``Infinity``), as in ``eval.json``.

    Args:
      path: the file (its directory is created).
      replace: the first ``flush`` replaces the file atomically with what was written since
        the writer was made (a run's history, when it resumes); later ones append.
    """

    def __init__(self, path: str | os.PathLike, *, replace: bool = False):
        self.path = pathlib.Path(path)
        self._replace = bool(replace)
        self._lines: list[str] = []

    def __repr__(self) -> str:
        return f"JsonlWriter({str(self.path)!r})"

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        step, values = self._checked(step, scalars)
        plain = {k: x for k, x in values.items() if not k.startswith(EVAL_PREFIX)}
        evals = {k[len(EVAL_PREFIX):]: x for k, x in values.items() if k.startswith(EVAL_PREFIX)}
        if plain:
            self._lines.append(json.dumps({"step": step, **plain}) + "\n")
        if evals:
            self._lines.append(json.dumps({"step": step, "eval": evals}) + "\n")

    def flush(self) -> None:
        self._write(sync=False)

    def _write(self, *, sync: bool) -> None:
        text, self._lines = "".join(self._lines), []
        if self._replace:
            self._replace = False
            atomic_write_text(self.path, text)  # fsynced, whatever ``sync`` says
            return
        if not text and not sync:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            if sync:
                f.flush()
                os.fsync(f.fileno())

    def close(self) -> None:
        if not self._closed:
            self._write(sync=True)
            self._closed = True


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``, in order.

    A last line without its newline is a record still being written (a reader following a
    live run) and is left out; any other line that is not a JSON object raises ``ValueError``
    naming the file and the line.
    """
    path = pathlib.Path(path)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete = lines[:-1]  # the part after the last newline is empty or still being written
    records = []
    for number, line in enumerate(complete, 1):
        try:
            record = json.loads(line)
        except ValueError as e:
            raise ValueError(f"{path}:{number}: not a JSON line ({e})") from None
        if not isinstance(record, dict) or "step" not in record:
            raise ValueError(f"{path}:{number}: not a metrics record: {line[:200]!r}")
        records.append(record)
    return records


# --------------------------------------------------------------------------------------------
# TensorBoard


class TensorBoardUnavailableError(ImportError):
    """``tensorboardX`` is not installed; the message says how to install it."""


def require_tensorboard() -> Any:
    """The ``tensorboardX`` module, or :class:`TensorBoardUnavailableError` in one line."""
    try:
        import tensorboardX  # type: ignore[import-untyped]  # ships no py.typed
    except ImportError as e:
        raise TensorBoardUnavailableError(
            f"TensorBoard event files need tensorboardX ({e}): {INSTALL_HINT}"
        ) from None
    return tensorboardX


class TensorBoardWriter(_Writer):
    """Writes scalars as TensorBoard events in ``logdir`` (one TensorBoard run), the names as tags.

    Needs ``tensorboardX`` (:func:`require_tensorboard`); no TensorFlow. Each writer writes a
    new event file of its own name.

    Args:
      logdir: the run's directory of event files (created).
      replace: at the first ``flush``, once the new file holds what was written since the
        writer was made, delete the event files that were in ``logdir`` before.
    """

    def __init__(self, logdir: str | os.PathLike, *, replace: bool = False):
        tbx = require_tensorboard()
        self.logdir = pathlib.Path(logdir)
        if self.logdir.exists() and not self.logdir.is_dir():
            raise ValueError(f"logdir must be a directory, got logdir={str(self.logdir)!r}")
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._stale = sorted(self.logdir.glob(EVENT_FILE_PREFIX + "*")) if replace else []
        # A suffix of its own: event files are named by the second they were opened in, and a
        # writer replacing another's file must not reopen (and truncate) it.
        self._writer = tbx.SummaryWriter(
            str(self.logdir), filename_suffix=f".{os.getpid()}.{secrets.token_hex(4)}",
            max_queue=1000, flush_secs=3600,
        )

    def __repr__(self) -> str:
        return f"TensorBoardWriter({str(self.logdir)!r})"

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        step, values = self._checked(step, scalars)
        for tag, value in values.items():
            self._writer.add_scalar(tag, value, global_step=step)

    def flush(self) -> None:
        if self._closed:
            return
        self._writer.flush()
        for stale in self._stale:
            stale.unlink(missing_ok=True)
        self._stale = []

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._writer.close()
            self._closed = True


def has_event_files(logdir: str | os.PathLike) -> bool:
    """Whether ``logdir`` holds TensorBoard event files."""
    return any(pathlib.Path(logdir).glob(EVENT_FILE_PREFIX + "*"))


# --------------------------------------------------------------------------------------------
# A run's history


def write_history(
    writers: Iterable[MetricWriter],
    losses: Sequence[float] | np.ndarray,
    evals: Sequence[Mapping[str, Any]],
    *,
    start: int = 0,
) -> None:
    """Write steps ``start + 1 ..`` of a run's record, in the order training writes them.

    ``losses[i]`` is step ``i + 1``'s loss; ``evals`` are ``eval.json``'s records
    (``{"step": s, <metric>: x, ...}``), written as ``eval/<metric>`` after the loss of
    their step.
    """
    writers = list(writers)
    losses = np.asarray(losses, np.float32)
    by_step: dict[int, list[Mapping[str, Any]]] = {}
    for record in evals:
        by_step.setdefault(int(record["step"]), []).append(record)
    last = max([len(losses), *by_step], default=0)
    for step in range(start + 1, last + 1):
        scalars = [{"loss": float(losses[step - 1])}] if step <= len(losses) else []
        scalars += [eval_scalars(r) for r in by_step.get(step, [])]
        for w in writers:
            for s in scalars:
                w.write_scalars(step, s)


def eval_scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """An evaluation's metrics (an ``eval.json`` record) as ``eval/<name>`` scalars."""
    return {f"{EVAL_PREFIX}{k}": float(x) for k, x in record.items() if k != "step"}


def progress_postfix(
    chunk_losses: np.ndarray, last_eval: Mapping[str, float] | None
) -> dict[str, str]:
    """The progress bar's postfix: the live training loss (the mean of the last chunk's finite
    losses over the runs it trained) and the last evaluation's metrics (mean over the runs
    evaluated), 4 significant digits each."""
    out = {}
    finite = np.asarray(chunk_losses, np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size:
        out["loss"] = f"{finite.mean():.4g}"
    for name, value in (last_eval or {}).items():
        out[f"eval_{name}"] = f"{value:.4g}" if math.isfinite(value) else str(value)
    return out

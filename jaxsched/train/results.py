"""Run directories: config, per-step losses, eval metrics and summary, all written atomically.

A reproduction is a set of runs, each keyed by its configuration. Every file a run owns is
replaced atomically (temporary file in the same directory, ``fsync``, ``os.replace``, ``fsync``
of the directory), so a process killed at any instant leaves either the previous version or the
new one on disk, never a torn file. A run is finished once its ``summary.json`` says so; that file
is written last, which is what lets ``reproduce`` skip finished runs and resume the others.

Layout of one run::

    root/<run_id>/
        config.json     the run's configuration (``write_config``)
        losses.npy      float32 [steps so far], one training loss per step (``save_losses``)
        eval.json       [{"step": ..., "test_loss": ..., "test_accuracy": ...}, ...] (``save_eval``)
        metrics.jsonl   one JSON object per line, appended while the run trains
                        (``jaxsched.train.metrics``)
        summary.json    {"status": "finished" | ..., ...} (``write_summary``)
        ckpt/           periodic training-state checkpoints (``jaxsched.train.checkpoint``)
        params/         the final eval params (``checkpoint.save_pytree``)

Example::

    run = RunDir("out/runs", "cosine-" + config_key(cfg))
    run.write_config(cfg)
    run.save_losses(np.asarray(losses, np.float32))
    run.write_summary({"status": "finished", "final_loss": 0.05})
    assert run.is_finished()
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# Re-exported: the run directory's files are written through the project's one atomic writer.
from jaxsched._io import atomic_save_npy, atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "FINISHED",
    "RunDir",
    "atomic_save_npy",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "canonical_json",
    "config_key",
    "list_runs",
]

FINISHED = "finished"
CONFIG_FILE = "config.json"
LOSSES_FILE = "losses.npy"
EVAL_FILE = "eval.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
_KEY_LENGTH = 12


def _read_json(path: pathlib.Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------------------------
# Config keys


def _canonical(value: Any, where: str) -> Any:
    # Normalise to plain JSON types, refusing anything whose JSON form would be ambiguous.
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(
                    f"config keys must be strings, got key {k!r} "
                    f"({type(k).__name__}) at {where or '<root>'}"
                )
            out[k] = _canonical(v, f"{where}.{k}" if where else k)
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist(), where)
    raise ValueError(
        f"config value at {where or '<root>'} must be a JSON-like value "
        f"(None, bool, int, float, str, list, tuple, mapping), got {type(value).__name__}: "
        f"{value!r}"
    )


def canonical_json(config: Mapping) -> str:
    """The canonical JSON text of ``config``: sorted keys, no whitespace, exact float reprs.

    Tuples become lists and NumPy scalars Python numbers; ``1`` and ``1.0`` stay distinct (ints
    and floats have different JSON forms). Floats use Python's shortest round-trip ``repr``,
    so two configs get the same text exactly when their values are equal.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping, got config={config!r}")
    canon = _canonical(config, "")
    return json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_key(config: Mapping) -> str:
    """A stable short key for a run configuration: the first 12 hex digits of the SHA-256 of
    ``canonical_json(config)``.

    Key order, tuple vs list and NumPy vs Python scalars do not change the key; any value does.

    Example::

        key = config_key({"optimizer": "adam", "lr": 1e-3})  # e.g. "3f1c0e9a7b42"
        assert key == config_key({"lr": 1e-3, "optimizer": "adam"})
    """
    digest = hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()
    return digest[:_KEY_LENGTH]


# --------------------------------------------------------------------------------------------
# Run directories


def _check_run_id(run_id: str) -> None:
    if not isinstance(run_id, str) or not run_id or run_id in (".", ".."):
        raise ValueError(f"run_id must be a non-empty directory name, got run_id={run_id!r}")
    if "/" in run_id or "\\" in run_id or os.sep in run_id or "\0" in run_id:
        raise ValueError(f"run_id must not contain path separators, got run_id={run_id!r}")
    if run_id.startswith("."):
        raise ValueError(f"run_id must not start with '.', got run_id={run_id!r}")


class RunDir:
    """One run's directory ``root/<run_id>/`` and its files (see the module docstring).

    Nothing is created until something is written. Readers of optional files return an empty
    value when the file does not exist yet: ``load_losses`` an empty float32 array,
    ``load_eval`` an empty list, ``read_summary`` ``None``; ``read_config`` raises
    ``FileNotFoundError`` because a run without a config is not a run.
    """

    def __init__(self, root: str | os.PathLike, run_id: str):
        _check_run_id(run_id)
        self.root = pathlib.Path(root)
        self.run_id = run_id
        self.path = self.root / run_id

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r}, {self.run_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def checkpoint_dir(self) -> pathlib.Path:
        """Where periodic training-state checkpoints live (``path/"ckpt"``)."""
        return self.path / "ckpt"

    @property
    def params_dir(self) -> pathlib.Path:
        """Where the final eval params are saved (``path/"params"``)."""
        return self.path / "params"

    @property
    def config_path(self) -> pathlib.Path:
        return self.path / CONFIG_FILE

    @property
    def losses_path(self) -> pathlib.Path:
        return self.path / LOSSES_FILE

    @property
    def eval_path(self) -> pathlib.Path:
        return self.path / EVAL_FILE

    @property
    def metrics_path(self) -> pathlib.Path:
        """``metrics.jsonl``: the run's metrics as it trains (:mod:`jaxsched.train.metrics`)."""
        return self.path / METRICS_FILE

    @property
    def summary_path(self) -> pathlib.Path:
        return self.path / SUMMARY_FILE

    def exists(self) -> bool:
        """Whether the run has a ``config.json``."""
        return self.config_path.is_file()

    # -- config --------------------------------------------------------------------------------

    def write_config(self, config: Mapping) -> None:
        """Write ``config.json``. The config must be JSON-like (see ``canonical_json``)."""
        if not isinstance(config, Mapping):
            raise ValueError(f"config must be a mapping, got config={config!r}")
        _canonical(config, "")  # refuse what could not be read back as the same config
        atomic_write_json(self.config_path, dict(config))

    def read_config(self) -> dict:
        """The run's config; ``FileNotFoundError`` when it has none."""
        return _read_json(self.config_path)

    # -- per-step losses -----------------------------------------------------------------------

    def save_losses(self, losses: Any) -> None:
        """Write all per-step losses so far (1-D, stored as float32) to ``losses.npy``."""
        arr = np.asarray(losses)
        if arr.ndim != 1:
            raise ValueError(f"losses must be 1-D [steps], got losses with shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"losses must be numbers, got losses with dtype {arr.dtype}")
        atomic_save_npy(self.losses_path, arr.astype(np.float32))

    def load_losses(self) -> np.ndarray:
        """The per-step losses saved so far (float32 [steps]); empty when none were saved."""
        if not self.losses_path.exists():
            return np.zeros((0,), np.float32)
        return np.load(self.losses_path, allow_pickle=False)

    # -- eval metrics --------------------------------------------------------------------------

    def save_eval(self, records: Sequence[Mapping]) -> None:
        """Write the eval records (mappings with at least ``step``) to ``eval.json``."""
        if isinstance(records, (str, bytes, Mapping)) or not hasattr(records, "__iter__"):
            raise ValueError(f"records must be a list of mappings, got records={records!r}")
        out = []
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping) or "step" not in rec:
                raise ValueError(
                    f"records[{i}] must be a mapping with a 'step' entry, got records[{i}]={rec!r}"
                )
            out.append(dict(rec))
        atomic_write_json(self.eval_path, out)

    def load_eval(self) -> list[dict]:
        """The eval records saved so far; empty when none were saved."""
        if not self.eval_path.exists():
            return []
        return _read_json(self.eval_path)

    # -- summary -------------------------------------------------------------------------------

    def write_summary(self, summary: Mapping) -> None:
        """Write ``summary.json``. A ``"status": "finished"`` entry marks the run finished,
        so write it last, after the losses, eval metrics and params are on disk."""
        if not isinstance(summary, Mapping):
            raise ValueError(f"summary must be a mapping, got summary={summary!r}")
        atomic_write_json(self.summary_path, dict(summary))

    def read_summary(self) -> dict | None:
        """The run's summary, or ``None`` when it has none yet."""
        if not self.summary_path.exists():
            return None
        return _read_json(self.summary_path)

    def is_finished(self) -> bool:
        """Whether ``summary.json`` exists and has ``"status": "finished"``."""
        try:
            summary = self.read_summary()
        except (OSError, ValueError):
            return False
        return isinstance(summary, dict) and summary.get("status") == FINISHED


def list_runs(root: str | os.PathLike) -> list[RunDir]:
    """Every run under ``root`` (subdirectories holding a ``config.json``), sorted by run id.

    A missing ``root`` has no runs. Hidden entries (temporary files) are skipped.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        return []
    runs = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if (entry / CONFIG_FILE).is_file():
            runs.append(RunDir(root, entry.name))
    return runs

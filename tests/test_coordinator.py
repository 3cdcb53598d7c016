"""The distributed flags reach ``jax.distributed.initialize`` as they should, without a cluster:
``initialize`` is replaced by a recorder that stops the command once it is called."""

from __future__ import annotations

import re

import jax
import pytest

from jaxsched import _dist, cli

COMMANDS = {
    "train": ["train", "--steps", "10", "--out", "d"],
    "reproduce": ["reproduce", "--out", "d"],
    "compare": ["compare", "--task", "regression", "--out", "d"],
}


class _Joined(Exception):
    """Raised by the recorder: the command got as far as joining the job."""


@pytest.fixture
def calls(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    seen: list[tuple[tuple, dict]] = []

    def record(*args, **kwargs):
        seen.append((args, kwargs))
        raise _Joined

    monkeypatch.setattr(jax.distributed, "initialize", record)
    return seen


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_auto_calls_initialize_with_no_arguments(command, calls):
    with pytest.raises(_Joined):
        cli.main([*COMMANDS[command], "--coordinator", "auto"])
    assert calls == [((), {})]


def test_host_port_passes_all_three(calls):
    with pytest.raises(_Joined):
        cli.main([*COMMANDS["train"], "--coordinator", "node0:1234", "--num-processes", "2",
                  "--process-id", "1"])
    assert calls == [((), {"coordinator_address": "node0:1234", "num_processes": 2,
                           "process_id": 1})]


@pytest.mark.parametrize(("extra", "needle"), [
    (["--coordinator", "auto", "--num-processes", "2"],
     "argument --num-processes: num_processes must not be given with coordinator='auto'"),
    (["--coordinator", "auto", "--process-id", "0"],
     "argument --process-id: process_id must not be given with coordinator='auto'"),
    (["--coordinator", "node0", "--num-processes", "2", "--process-id", "0"],
     "argument --coordinator: coordinator must be HOST:PORT or 'auto', got coordinator='node0'"),
    (["--num-processes", "2", "--process-id", "0"],
     "--coordinator, --num-processes and --process-id go together"),
    (["--coordinator", "node0:1234"], "--coordinator, --num-processes and --process-id go"),
])
def test_bad_combinations_are_one_line_naming_the_argument(extra, needle, calls, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*COMMANDS["train"], *extra])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and needle in err, err
    assert calls == []  # refused before joining anything


def test_auto_without_a_job_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)

    def no_job():
        raise ValueError("coordinator_address should be defined.")

    monkeypatch.setattr(jax.distributed, "initialize", no_job)
    with pytest.raises(SystemExit) as info:
        cli.main([*COMMANDS["train"], "--coordinator", "auto"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1
    assert "argument --coordinator: coordinator='auto': JAX found no job" in err
    assert "coordinator_address should be defined" in err


def test_library_auto(calls):
    with pytest.raises(_Joined):
        _dist.initialize("auto")
    assert calls == [((), {})]


@pytest.mark.parametrize(("args", "needle"), [
    (("node0:1234", None, 0), "num_processes must be given with coordinator=HOST:PORT"),
    (("node0:1234", 2, None), "process_id must be given with coordinator=HOST:PORT"),
    (("node0:1234", 2, 2), "process_id must be below num_processes=2"),
    (("auto", 2, None), "num_processes must not be given with coordinator='auto'"),
])
def test_library_refuses_incomplete_or_mixed_arguments(args, needle, calls):
    with pytest.raises(ValueError, match=re.escape(needle)):
        _dist.initialize(*args)
    assert calls == []

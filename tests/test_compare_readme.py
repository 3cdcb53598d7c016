"""The README's "Benchmark schedule-free on your model" example runs as written."""

from __future__ import annotations

import math
import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def section_block() -> str:
    section = README[README.index("## Benchmark schedule-free on your model"):]
    section = section[: section.index("\n## ", 3)]
    return re.search(r"^```python\n(.*?)^```", section, re.S | re.M).group(1)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # it writes compare-out/ into the working directory
    source = section_block()
    assert 20 <= len(source.splitlines()) <= 40
    ns: dict = {"__name__": "readme_compare"}
    exec(compile(source, "README.md compare example", "exec"), ns)
    results = ns["results"]
    env = results.envelope()
    assert {(e["candidate"], e["horizon"]) for e in env} == {
        (c, h) for c in ("cosine", "wsd", "sf_adamw") for h in (100, 200)}
    assert all(e["n"] == 2 and math.isfinite(e["mean"]) for e in env)
    assert {"loss", "accuracy"} <= set(results.rows[0])
    printed = capsys.readouterr().out
    assert printed.count("T=") == len(env)
    for f in ("results.csv", "REPORT.md", "figures/pareto.png", "figures/lr_sensitivity.png"):
        assert (tmp_path / "compare-out" / f).is_file()
    # the classifier learned something: test loss below chance (ln 10 = 2.30)
    assert min(e["mean"] for e in env) < 2.0

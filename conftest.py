"""Test-session setup, for the tests under tests/ and the doctests of jaxsched/.

The default suite is dominated by XLA compile time on a 2-core CPU, not by running programs.
XLA's cheap CPU pipeline (no expensive LLVM passes, backend optimisation level 0) keeps the same
semantics and cuts compile time by a third to a half; it must be set before JAX starts its
backend, hence here. Subprocesses the tests start inherit it.
"""

import os

_FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_backend_optimization_level" not in _flags:
    os.environ["XLA_FLAGS"] = " ".join([_flags, *_FAST_COMPILE]).strip()


# Scripts run by hand or in a subprocess, not test modules: the golden-data generators import
# torch and schedulefree (the `golden` extra), which the default environment does not have.
collect_ignore = ["tests/golden", "tests/scripts"]

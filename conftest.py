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


# Many tests compile the same small programs (the smoke TinyViT's group step, its evaluation):
# a compilation cache shared by the xdist workers and the subprocesses compiles each once. Its
# entries are keyed by the program and the compiler, so a stale entry can never be used; it
# lives in an ignored directory of the checkout and may be deleted at any time.
_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".jax_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


# Scripts run by hand or in a subprocess, not test modules: the golden-data generators import
# torch and schedulefree (the `golden` extra), which the default environment does not have.
collect_ignore = ["tests/golden", "tests/scripts"]

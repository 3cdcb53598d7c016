"""Learning-rate schedules: pure functions ``step -> float32 lr``, usable as ``optax.Schedule``.

A :data:`Schedule` accepts a Python int, a NumPy integer or a JAX integer array of any shape
(traced under ``jit``, ``vmap`` or ``scan``) and returns float32 of the same shape (broadcast
against any hyperparameter given as a non-scalar array). Negative steps count as step 0.
Hyperparameters (values and lengths) may be JAX arrays, so ``jax.vmap`` can sweep over them;
structural arguments (mode strings, milestone dicts, flags) are static. Concrete hyperparameters
are validated when the schedule is built: a bad one raises ``ValueError`` naming the argument
and its value; traced ones cannot be inspected and are not checked.

Modules: ``basic`` (constant, linear, cosine, polynomial), ``steps`` (stepwise drops, step
and multistep decay, piecewise constant), ``decay`` (exponential, inverse sqrt, inverse time),
``cyclic`` (warm restarts, cyclical, one-cycle), ``warmup`` (generic warmup, warmup + decay,
warmup-stable-decay), ``compose`` (join, product), ``noise`` (learning-rate noise keyed by the
step), ``plateau`` (reduce on plateau), ``registry`` (names -> kinds with their peak and
horizon arguments and an example; the spec grammar; :func:`resolve` builds a spec, including
the ``torch.*`` / ``sambaflow.*`` twins of :mod:`jaxsched.compat`).
"""

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
from jaxsched.schedules.noise import lr_noise
from jaxsched.schedules.plateau import Plateau, PlateauState, reduce_on_plateau
from jaxsched.schedules.registry import (
    COMBINATORS,
    KINDS,
    SCHEDULES,
    available,
    from_spec,
    get,
    parse_spec,
    register,
    resolve,
)
from jaxsched.schedules.steps import multistep, piecewise_constant, step_decay, stepwise_drop
from jaxsched.schedules.warmup import (
    warmup,
    warmup_cosine_decay,
    warmup_linear_decay,
    warmup_stable_decay,
)

__all__ = [
    "COMBINATORS",
    "KINDS",
    "SCHEDULES",
    "Plateau",
    "PlateauState",
    "Schedule",
    "available",
    "constant",
    "cosine_decay",
    "cosine_restarts",
    "cyclical",
    "exponential_decay",
    "from_spec",
    "get",
    "inverse_sqrt",
    "inverse_time",
    "join",
    "lr_noise",
    "linear_decay",
    "multistep",
    "natural_exp_decay",
    "one_cycle",
    "parse_spec",
    "piecewise_constant",
    "polynomial_decay",
    "product",
    "reduce_on_plateau",
    "register",
    "resolve",
    "step_decay",
    "stepwise_drop",
    "warmup",
    "warmup_cosine_decay",
    "warmup_linear_decay",
    "warmup_stable_decay",
]

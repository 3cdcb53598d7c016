"""Optax optimizers of the notes: Adam, parameter averaging and schedule-free.

Every function returns an ``optax.GradientTransformation`` usable in ``optax.chain``, under
``optax.inject_hyperparams`` and under ``jax.vmap`` over its numeric hyperparameters.
``reduce_on_plateau`` scales the updates by a value passed to ``update`` (``value=loss``).
``eval_params(opt_state, params)`` gives the parameters to evaluate and checkpoint (the average
for averaging and schedule-free optimizers, ``params`` otherwise).
"""

from jaxsched.optim.adam import AdamState, adam
from jaxsched.optim.averaging import (
    EmaAverageState,
    PolyakAverageState,
    ema_average,
    polyak_average,
    power_ema_decay,
    sqrt_cooldown_ema_decay,
)
from jaxsched.optim.eval import eval_params, register_average
from jaxsched.optim.plateau import ReduceOnPlateauState, reduce_on_plateau
from jaxsched.optim.schedule_free import (
    ScheduleFreeAdamState,
    ScheduleFreeSGDState,
    ScheduleFreeState,
    schedule_free,
    schedule_free_adam,
    schedule_free_adamw,
    schedule_free_radam,
    schedule_free_sgd,
)

__all__ = [
    "AdamState",
    "EmaAverageState",
    "PolyakAverageState",
    "ReduceOnPlateauState",
    "ScheduleFreeAdamState",
    "ScheduleFreeSGDState",
    "ScheduleFreeState",
    "adam",
    "ema_average",
    "eval_params",
    "polyak_average",
    "power_ema_decay",
    "reduce_on_plateau",
    "register_average",
    "schedule_free",
    "schedule_free_adam",
    "schedule_free_adamw",
    "schedule_free_radam",
    "schedule_free_sgd",
    "sqrt_cooldown_ema_decay",
]

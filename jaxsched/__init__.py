"""jaxsched: learning-rate schedules and schedule-free / averaging optimizers for JAX and optax."""

__version__ = "0.3.0"

"""Twins of other libraries' learning-rate schedules, built on JAX.

``jaxsched.compat.torch`` mirrors ``torch.optim.lr_scheduler`` step for step;
``jaxsched.compat.sambaflow`` mirrors SambaFlow's built-in schedules.
"""

from jaxsched.compat import sambaflow, torch

__all__ = ["sambaflow", "torch"]

"""The notes' TinyViT as printed in the chapter (seed 003), from stock flax layers: the reference.

This is the module the notes train, kept literally so that jaxsched's fast
:class:`~jaxsched.workloads.tinyvit.TinyViT` can be checked against it: the same parameter tree and
logits (``tests/test_model.py``), the same training behaviour (its fidelity test), and the
naive loop of ``jaxsched bench``. Dropout at rate 0.3 acts in three places per block, as in the
notes: on the attention weights (``MultiHeadDotProductAttention(dropout_rate=...)``, flax's
``broadcast_dropout=True``) and after each of the MLP's two dense layers.

``num_blocks``, ``num_heads`` (4 and 4 in the notes) and ``read`` (the notes' ``x[:, 0]``) are
exposed only for small variants and the class-token readout; the defaults are the notes' model.
The sin-cos table is :func:`jaxsched.workloads.tinyvit.get_2d_sincos_pos_embed`, itself the notes'
code.

>>> import jax, jax.numpy as jnp
>>> m = NotesTinyViT(features=16, num_blocks=1, num_heads=2)
>>> x = jnp.zeros((2, 32, 32, 3))
>>> params = m.init(jax.random.PRNGKey(0), x, deterministic=True)["params"]
>>> m.apply({"params": params}, x, deterministic=True).shape
(2, 10)
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from einops import rearrange

from jaxsched.workloads.tinyvit import get_2d_sincos_pos_embed

__all__ = ["NotesTinyViT"]


class NotesTinyViT(nn.Module):
    """The notes' ``TinyViT``; input float images in [0, 1], NHWC; output logits."""

    features: int = 128
    patch_size: int = 8
    num_classes: int = 10
    dropout: float = 0.3
    num_blocks: int = 4
    num_heads: int = 4
    read: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = False) -> jax.Array:
        patch_tuple = (self.patch_size, self.patch_size)
        num_patches = x.shape[1] // self.patch_size
        x = nn.Conv(self.features, patch_tuple, patch_tuple, use_bias=True, padding="VALID")(x)
        x = rearrange(x, "b h w c -> b (h w) c", h=num_patches, w=num_patches)
        x = x + get_2d_sincos_pos_embed(self.features, num_patches**2)
        x = jnp.concatenate(
            [x, nn.Embed(1, self.features)(jnp.zeros((x.shape[0], 1), dtype=jnp.int32))], axis=1
        )  # the class token, appended last
        for _ in range(self.num_blocks):
            y = nn.LayerNorm()(x)
            y = nn.MultiHeadDotProductAttention(
                num_heads=self.num_heads, dropout_rate=self.dropout, deterministic=deterministic
            )(y, y)
            x = x + y
            y = nn.LayerNorm()(x)
            y = nn.Dense(self.features * 2)(y)
            y = nn.gelu(y)
            y = nn.Dropout(rate=self.dropout, deterministic=deterministic)(y)
            y = nn.Dense(self.features)(y)
            y = nn.Dropout(rate=self.dropout, deterministic=deterministic)(y)
            x = x + y
        x = x[:, self.read]
        return nn.Dense(self.num_classes)(x)

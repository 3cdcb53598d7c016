"""TinyViT, the notes' CIFAR-10 vision transformer, written for speed with identical parameters.

The notes (seed 003) build the model from stock flax layers::

    Conv(128, 8x8, stride 8, VALID, bias) -> 16 tokens -> + 2-D sin-cos positions
    -> append a class token (nn.Embed(1, 128))                         # 17 tokens, class LAST
    -> 4 x [ x + MHA(LN(x)) ; x + Drop(Dense(Drop(gelu(Dense_2x(LN(x)))))) ]
    -> x[:, 0] -> Dense(10)

:class:`TinyViT` computes the same function from the same parameter tree (same names, shapes
and initializers: ``init`` with the same key gives the same numbers, and with dropout off the
logits agree to float32 rounding). What differs is how it is computed:

* **Feature-major activations.** Tokens are held as ``[features, tokens]`` so that all three
  products of every dense layer (forward, input gradient, weight gradient) are plain
  row-major matrix products with no activation transposes. In the usual token-major layout the
  weight gradient contracts the token axis of two token-major arrays, which XLA:CPU serves
  with a transposing copy of an activation plus a slower fallback kernel; here a custom VJP
  pins the three products to the fast form.
* **The convolution is a patch reshape and one product**; query/key/value are one ``[3F, F]``
  product built from the three stored kernels.
* **The last block is computed only for the read-out token.** Nothing after the last block
  reads the other tokens, so their query projection, attention output, residual and MLP are
  skipped (keys and values of all tokens are still needed). Exact: the read-out token's values
  are the same, dropout masks included. ``prune_readout=False`` computes every token.
* **Dropout masks come from a counter hash** keyed by the module's dropout key (see
  :func:`hash_keep_mask`) instead of ``jax.random.bernoulli``: on XLA:CPU, threefry bits for the
  ~3.3M mask entries of a batch-128 step cost about as much as the forward pass. The masks are
  i.i.d. Bernoulli(1 - rate) in distribution but are not the bits flax's ``nn.Dropout`` draws
  for the same key; ``dropout_rng="jax"`` draws them with ``jax.random.bernoulli`` instead.

Attention dropout follows flax's default ``broadcast_dropout=True``: one ``[L, L]`` mask per
layer and step, shared by all images and heads.

Readout: the notes read ``x[:, 0]``, which is the first *patch* token because the class token is
appended last. That is the default (``readout="first_patch"``); ``readout="class_token"`` reads
the class token instead.

Example::

    model = TinyViT()
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))["params"]
    logits = model.apply({"params": params}, images / 255.0, rngs={"dropout": key})
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsched import _validate as v

__all__ = [
    "TinyViT",
    "get_1d_sincos_pos_embed_from_grid",
    "get_2d_sincos_pos_embed",
    "hash_keep_mask",
    "READOUTS",
    "DROPOUT_RNGS",
]

READOUTS = ("first_patch", "class_token")
DROPOUT_RNGS = ("hash", "jax")


def get_1d_sincos_pos_embed_from_grid(embed_dim: int, pos: jax.Array) -> jax.Array:
    """The notes' 1-D sin-cos table ``[sin(pos * w), cos(pos * w)]``, ``w_d = 1e4**(-2d/D)``."""
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even, got embed_dim={embed_dim}")
    omega = jnp.arange(embed_dim // 2, dtype=jnp.float32) / (embed_dim // 2)
    omega = 1.0 / 10000**omega
    pos = pos.reshape(-1)
    out = jnp.einsum("m,d->md", pos, omega)
    return jnp.concatenate([jnp.sin(out), jnp.cos(out)], axis=1)


def get_2d_sincos_pos_embed(embed_dim: int, length: int) -> jax.Array:
    """The notes' 2-D table ``[1, length, embed_dim]``.

    Kept literally, meshgrid order included: ``jnp.meshgrid(h, w)`` defaults to ``indexing="xy"``,
    so the first half of each embedding encodes the *column* and the second half the *row*.
    """
    grid_size = int(length**0.5)
    if grid_size * grid_size != length:
        raise ValueError(f"length must be a perfect square, got length={length}")
    grid_hw = jnp.arange(grid_size, dtype=jnp.float32)
    grid = jnp.stack(jnp.meshgrid(grid_hw, grid_hw), axis=0)
    grid = grid.reshape([2, 1, grid_size, grid_size])
    emb_h = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[0])
    emb_w = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[1])
    pos_embed = jnp.concatenate([emb_h, emb_w], axis=1)
    return jnp.expand_dims(pos_embed, 0)


# ---------------------------------------------------------------------------------- dropout


def _mix32(x: jax.Array) -> jax.Array:
    # hash-prospector's "lowbias32" finalizer: a bijection on uint32 in which every input bit
    # flips every output bit with probability ~1/2.
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _keep_threshold(keep_prob: float) -> jax.Array:
    return jnp.uint32(min(int(round(keep_prob * 2.0**32)), 2**32 - 1))


def _hash_keep_words(words: jax.Array, keep_prob: float, counters: jax.Array, index=None):
    if index is not None:
        counters = counters[index]
    h = _mix32(_mix32((counters * jnp.uint32(0x9E3779B9)) ^ words[0]) + words[1])
    return h < _keep_threshold(keep_prob)


def _hash_keep(key: jax.Array, keep_prob: float, counters: jax.Array) -> jax.Array:
    return _hash_keep_words(jax.random.bits(key, (2,), jnp.uint32), keep_prob, counters)


def _counters(shape: tuple[int, ...]) -> jax.Array:
    n = math.prod(shape)
    if n >= 2**32:
        raise ValueError(f"shape must have fewer than 2**32 entries, got shape={shape}")
    return jax.lax.iota(jnp.uint32, n).reshape(shape)


def hash_keep_mask(key: jax.Array, keep_prob: float, shape: tuple[int, ...]) -> jax.Array:
    """Boolean Bernoulli(``keep_prob``) mask of ``shape`` from a counter hash keyed by ``key``.

    Two 32-bit words ``(s0, s1)`` are drawn from ``key`` with ``jax.random.bits``; entry ``i``
    (row-major counter) is kept when ``mix(mix(i * phi ^ s0) + s1) < round(keep_prob * 2**32)``,
    where ``mix`` is a bijective avalanche hash and ``phi`` the odd golden-ratio constant.
    Different keys give unrelated masks; the whole mask is one elementwise computation with no
    bit buffer, and any sub-block can be computed alone from its counters.

    Example::

        keep = hash_keep_mask(jax.random.PRNGKey(0), 0.7, (128, 17, 256))
    """
    v.check_in_range("keep_prob", keep_prob, 0.0, 1.0)
    return _hash_keep(key, keep_prob, _counters(tuple(shape)))


def _keep_mask(key, keep_prob, shape, method):
    if method == "hash":
        return _hash_keep(key, keep_prob, _counters(shape))
    return jax.random.bernoulli(key, keep_prob, shape)


def _apply_keep(x: jax.Array, keep: jax.Array, keep_prob: float) -> jax.Array:
    return jnp.where(keep, x / keep_prob, jnp.zeros((), x.dtype))


# ------------------------------------------------------------------------------ matmul


@jax.custom_vjp
def _dense_fm(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``kernel.T @ x`` for feature-major ``x`` ``[K, M]`` and a flax kernel ``[K, N]``."""
    return _wt(kernel) @ x


def _wt(kernel: jax.Array) -> jax.Array:
    # The barrier stops XLA from folding the (small) weight transpose into the product, which
    # would turn it into the transposed-operand form served by a slower kernel.
    return jax.lax.optimization_barrier(kernel.T)


def _dense_fm_fwd(x, kernel):
    return _wt(kernel) @ x, (x, kernel)


def _dense_fm_bwd(res, g):
    x, kernel = res
    dx = kernel @ g  # [K, N] @ [N, M]
    dkernel_t = jax.lax.dot_general(g, x, (((1,), (1,)), ((), ())))  # [N, K], contracts M
    return dx, dkernel_t.T


_dense_fm.defvjp(_dense_fm_fwd, _dense_fm_bwd)


def _lecun_flat(fan_in: int, fan_out: int):
    # flax's DenseGeneral initializes its kernel as a flat [fan_in, fan_out] matrix and
    # reshapes it; doing the same keeps ``init`` bit-identical to the notes' module.
    def init(rng, shape, dtype=jnp.float32):
        return nn.initializers.lecun_normal()(rng, (fan_in, fan_out), dtype).reshape(shape)

    return init


class _DenseGeneralParams(nn.Module):
    """``kernel``/``bias`` of a flax ``DenseGeneral`` (same shapes and initializers)."""

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    @nn.compact
    def __call__(self) -> tuple[jax.Array, jax.Array]:
        init = _lecun_flat(math.prod(self.in_shape), math.prod(self.out_shape))
        kernel = self.param("kernel", init, self.in_shape + self.out_shape)
        bias = self.param("bias", nn.initializers.zeros_init(), self.out_shape)
        return kernel, bias


class _DenseFM(nn.Module):
    """flax ``nn.Dense`` (same params) on feature-major ``[K, M]`` input, output ``[N, M]``."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (x.shape[0], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return _dense_fm(x, kernel) + bias[:, None]


def _layer_norm(name: str) -> nn.LayerNorm:
    # flax's LayerNorm (epsilon 1e-6, fast variance) over the feature axis 0; its scale and
    # bias keep the shape (F,) of the notes' token-major LayerNorm.
    return nn.LayerNorm(reduction_axes=0, feature_axes=0, name=name)


# --------------------------------------------------------------------------- attention


class _Attention(nn.Module):
    """flax ``MultiHeadDotProductAttention`` (self-attention, default options), feature-major.

    ``x`` is ``[F, B, L]``. With ``row`` set, only that query token is computed and the output
    is ``[F, B]``.
    """

    num_heads: int
    dropout: float
    dropout_rng: str

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool, row: int | None = None) -> jax.Array:
        f, b, length = x.shape
        h = self.num_heads
        d = f // h
        kernels, biases = [], []
        for name in ("query", "key", "value"):
            k, bias = _DenseGeneralParams((f,), (h, d), name=name)()
            kernels.append(k.reshape(f, f))
            biases.append(bias.reshape(f))
        out_k, out_b = _DenseGeneralParams((h, d), (f,), name="out")()
        scale = jnp.sqrt(jnp.float32(d)).astype(x.dtype)
        train = not deterministic and self.dropout > 0.0
        keep = None
        if train:
            # flax's broadcast_dropout=True: one [L, L] mask for every image and head.
            keep = _keep_mask(
                self.make_rng("dropout"), 1.0 - self.dropout, (length, length), self.dropout_rng
            )
        flat = x.reshape(f, b * length)
        if row is None:
            qkv = _dense_fm(flat, jnp.concatenate(kernels, axis=1))
            qkv = (qkv + jnp.concatenate(biases)[:, None]).reshape(3, h, d, b, length)
            q, k, val = qkv[0] / scale, qkv[1], qkv[2]
            w = jax.nn.softmax(jnp.einsum("hdbq,hdbk->hbqk", q, k), axis=-1)
            if keep is not None:
                w = _apply_keep(w, keep, 1.0 - self.dropout)
            o = jnp.einsum("hbqk,hdbk->hdbq", w, val).reshape(f, b * length)
            return (_dense_fm(o, out_k.reshape(f, f)) + out_b[:, None]).reshape(f, b, length)
        kv = _dense_fm(flat, jnp.concatenate(kernels[1:], axis=1))
        kv = (kv + jnp.concatenate(biases[1:])[:, None]).reshape(2, h, d, b, length)
        q = _dense_fm(x[:, :, row], kernels[0]) + biases[0][:, None]
        q = q.reshape(h, d, b) / scale
        w = jax.nn.softmax(jnp.einsum("hdb,hdbk->hbk", q, kv[0]), axis=-1)
        if keep is not None:
            w = _apply_keep(w, keep[row], 1.0 - self.dropout)
        o = jnp.einsum("hbk,hdbk->hdb", w, kv[1]).reshape(f, b)
        return _dense_fm(o, out_k.reshape(f, f)) + out_b[:, None]


class _PatchEmbed(nn.Module):
    """flax ``Conv(F, (p, p), strides=(p, p), padding="VALID")`` as reshape + one product.

    Takes NHWC images, returns feature-major ``[F, B, gh * gw]`` tokens in the notes' row-major
    ``(h w)`` order.
    """

    features: int
    patch_size: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, hgt, wid, c = x.shape
        p = self.patch_size
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (p, p, c, self.features)
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        gh, gw = hgt // p, wid // p
        # VALID padding drops the remainder rows/columns, as the convolution does.
        x = x[:, : gh * p, : gw * p].reshape(b, gh, p, gw, p, c)
        patches = x.transpose(2, 4, 5, 0, 1, 3).reshape(p * p * c, b * gh * gw)
        y = _dense_fm(patches, kernel.reshape(p * p * c, self.features)) + bias[:, None]
        return y.reshape(self.features, b, gh * gw)


# ------------------------------------------------------------------------------- model


class TinyViT(nn.Module):
    """The notes' TinyViT (see the module docstring). Input: float images in [0, 1], NHWC.

    Attributes:
      features: token width (notes: 128).
      patch_size: square patch side (notes: 8, so 16 patches of a 32x32 image).
      num_blocks: transformer blocks (notes: 4).
      num_heads: attention heads (notes: 4).
      num_classes: logits (notes: 10).
      dropout: rate of the attention and MLP dropouts (notes: 0.3).
      readout: ``"first_patch"`` reads ``x[:, 0]`` as the notes do (the first patch token, since
        the class token is appended last); ``"class_token"`` reads the class token ``x[:, -1]``.
      dropout_rng: ``"hash"`` (counter hash, default) or ``"jax"`` (``jax.random.bernoulli``).
      prune_readout: compute the last block for the read-out token only (exact; default).
    """

    features: int = 128
    patch_size: int = 8
    num_blocks: int = 4
    num_heads: int = 4
    num_classes: int = 10
    dropout: float = 0.3
    readout: str = "first_patch"
    dropout_rng: str = "hash"
    prune_readout: bool = True

    def _check(self, x: jax.Array) -> None:
        for name in ("features", "patch_size", "num_blocks", "num_heads", "num_classes"):
            v.check_int(name, getattr(self, name), minimum=1)
        v.check_in_range("dropout", self.dropout, 0.0, 1.0, high_inclusive=False)
        v.check_choice("readout", self.readout, READOUTS)
        v.check_choice("dropout_rng", self.dropout_rng, DROPOUT_RNGS)
        v.check_bool("prune_readout", self.prune_readout)
        if self.features % self.num_heads:
            raise ValueError(
                f"features must be divisible by num_heads, got features={self.features} "
                f"and num_heads={self.num_heads}"
            )
        if self.features % 4:
            raise ValueError(
                f"features must be a multiple of 4 (2-D sin-cos table), got "
                f"features={self.features}"
            )
        if x.ndim != 4 or x.shape[1] != x.shape[2] or x.shape[1] < self.patch_size:
            raise ValueError(
                f"x must be square NHWC images at least patch_size={self.patch_size} wide, "
                f"got shape {x.shape}"
            )

    def _mlp_masks(self, length: int, b: int, row: int | None):
        """Keep masks of both MLP dropouts of every block: ``[2F, B, L]`` and ``[F, B, L]``.

        With ``row`` set, the last block's masks are only that token's entries (``[2F, B]``,
        ``[F, B]``), the same entries the full masks hold. Hash masks of the other blocks are
        drawn together inside a ``lax.map`` so that XLA materializes them once: left inline,
        the elementwise hash is fused into, and recomputed by, each of its consumers.
        """
        f, n = self.features, self.num_blocks
        keep_prob = 1.0 - self.dropout
        shapes = ((2 * f, b, length), (f, b, length))
        keys = [(self.make_rng("dropout"), self.make_rng("dropout")) for _ in range(n)]
        last_index = None if row is None else (slice(None), slice(None), row)
        if self.dropout_rng == "jax":
            masks = [
                tuple(jax.random.bernoulli(k, keep_prob, sh) for k, sh in zip(ks, shapes,
                                                                                strict=True))
                for ks in keys
            ]
            if row is not None:
                masks[-1] = tuple(m[last_index] for m in masks[-1])
            return masks
        words = jnp.stack(
            [jnp.stack([jax.random.bits(k, (2,), jnp.uint32) for k in ks]) for ks in keys]
        )  # [n, 2 masks, 2 words]

        def draw(w, index=None):
            return tuple(
                _hash_keep_words(w[j], keep_prob, _counters(sh), index)
                for j, sh in enumerate(shapes)
            )

        full = n if row is None else n - 1
        masks = []
        if full:
            ma, mb = jax.lax.map(draw, words[:full])
            masks = [(ma[i], mb[i]) for i in range(full)]
        if row is not None:
            masks.append(draw(words[-1], last_index))
        return masks

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = False) -> jax.Array:
        self._check(x)
        f = self.features
        keep_prob = 1.0 - self.dropout
        train = not deterministic and self.dropout > 0.0
        grid = x.shape[1] // self.patch_size
        b = x.shape[0]
        x = _PatchEmbed(f, self.patch_size, name="Conv_0")(x)  # [F, B, P]
        pos = get_2d_sincos_pos_embed(f, grid * grid)[0].astype(x.dtype)  # [P, F]
        x = x + pos.T[:, None, :]
        cls = nn.Embed(1, f, name="Embed_0")(jnp.zeros((1,), jnp.int32))  # [1, F]
        cls = jnp.broadcast_to(cls.T[:, :, None].astype(x.dtype), (f, b, 1))
        x = jnp.concatenate([x, cls], axis=2)  # [F, B, L], the class token last
        length = x.shape[2]
        row = 0 if self.readout == "first_patch" else length - 1
        masks = self._mlp_masks(length, b, row if self.prune_readout else None) if train else None
        for i in range(self.num_blocks):
            attention = _Attention(
                self.num_heads, self.dropout, self.dropout_rng,
                name=f"MultiHeadDotProductAttention_{i}",
            )
            ln0 = _layer_norm(f"LayerNorm_{2 * i}")
            ln1 = _layer_norm(f"LayerNorm_{2 * i + 1}")
            dense0 = _DenseFM(2 * f, name=f"Dense_{2 * i}")
            dense1 = _DenseFM(f, name=f"Dense_{2 * i + 1}")
            y = ln0(x.reshape(f, b * length)).reshape(f, b, length)
            if self.prune_readout and i == self.num_blocks - 1:
                # Only token `row` is read after this block: compute its column alone.
                x = x[:, :, row] + attention(y, deterministic, row=row)  # [F, B]
                shape_a, shape_b = (2 * f, b), (f, b)
            else:
                x = x + attention(y, deterministic)
                shape_a, shape_b = (2 * f, b * length), (f, b * length)
            xs = x.reshape(f, -1)
            y = nn.gelu(dense0(ln1(xs)))
            if masks is not None:
                y = _apply_keep(y, masks[i][0].reshape(shape_a), keep_prob)
            y = dense1(y)
            if masks is not None:
                y = _apply_keep(y, masks[i][1].reshape(shape_b), keep_prob)
            x = (xs + y).reshape(x.shape)
        out = x if x.ndim == 2 else x[:, :, row]
        # The read-out token [F, B] -> logits [B, classes] with the notes' last Dense.
        return nn.Dense(self.num_classes, name=f"Dense_{2 * self.num_blocks}")(out.T)

# mypy: disable-error-code="import-untyped"
"""A byte-level language model on real text: the worked example of a sequence :class:`Task`.

The text is the running Python's standard-library source (:mod:`jaxsched.workloads.text`): every
machine carries it, no download. The model is a small decoder-only transformer over bytes
(:class:`CharTransformer`):

* vocabulary 256 (raw bytes, no tokenizer);
* learned absolute positions: the context length is fixed, training and evaluation windows
  have the same length, so nothing has to extrapolate to unseen positions (sinusoids' and
  rotary embeddings' advantage) and the learned table is what GPT-2-style baselines use;
* pre-norm blocks: ``x + attn(LN(x))``, then ``x + mlp(LN(x))``, with causal multi-head
  self-attention and a GELU MLP of ``mlp_ratio·d``; a final LayerNorm;
* tied readout: logits are the final features against the byte embedding (``Embed.attend``),
  which saves ``256·d`` parameters and is GPT-2's choice; embeddings and positions start at
  ``N(0, 0.02²)`` so the first logits are near uniform (loss ≈ ln 256 nats = 8 bits/byte);
* optional dropout (after the embedding, on attention weights, and on each residual branch).

:func:`charlm_task` makes it a :class:`~jaxsched.train.task.Task` the group loop can ``vmap``:

* ``sample(key)``: ``batch_size`` start offsets ``randint(key, (B,), 0, N - context)`` into
  the training bytes and the windows of ``context + 1`` bytes there, gathered on device
  (uint8 ``[B, context + 1]``);
* ``loss(params, batch, key)``: mean next-byte cross-entropy in nats over every position of
  every window (inputs ``batch[:, :-1]``, targets ``batch[:, 1:]``); ``key`` drives dropout;
* ``evaluate(params)``: ``{"loss", "bits_per_byte", "accuracy"}`` over a fixed set of
  ``val_windows`` validation windows whose starts are evenly spaced over the validation bytes
  (:func:`validation_starts`), identical for every run, so evaluations are paired; ``loss`` IS
  the bits per byte (mean cross-entropy / ln 2), which is what the comparison tunes and
  targets on. Every position of a window counts, the first ones with little context, as in
  the training loss.

:data:`SIZES` holds the sized configurations (:class:`CharLMSize`): ``smoke`` (tests, seconds
on 2 CPU cores), ``quick`` (a 3-seed comparison grid in ~10-15 minutes on 2 CPU cores, too
short for any schedule to beat a constant learning rate), ``cpu`` (context 32, batch 8: cheap
enough steps for 8000-step runs in a 3-seed grid of about an hour on 2 CPU cores, long enough
that tuned cooldowns beat tuned constant) and ``gpu`` (a few million parameters, context 256,
for one large GPU).

>>> import jax, optax
>>> from jaxsched.train.loop import GroupTrainer
>>> size = SIZES["smoke"]
>>> corpus = stdlib_corpus(size.max_bytes)
>>> task = charlm_task(size, corpus)
>>> task.sample(jax.random.key(0)).shape
(16, 33)
>>> trainer = GroupTrainer(task, lambda lr, h: optax.adam(3e-3))
>>> state = trainer.init(jax.numpy.array([0]), {})
>>> before = float(trainer.evaluate(state)["loss"][0])
>>> state, losses = trainer.train(state, jax.numpy.zeros((1, 1)), {}, 20)
>>> after = float(trainer.evaluate(state)["loss"][0])
>>> round(before), after < before - 2
(8, True)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from einops import rearrange

from jaxsched import _validate as v
from jaxsched.train.task import Task
from jaxsched.workloads.catalogue import Built
from jaxsched.workloads.text import Corpus, stdlib_corpus

__all__ = ["SIZES", "VOCAB", "CharLMSize", "CharTransformer", "build", "charlm_task",
           "validation_starts"]

VOCAB = 256
"""Bytes."""

_EMBED_INIT = nn.initializers.normal(0.02)


class CharLMSize(NamedTuple):
    """One configuration of the byte language model and its data.

    Attributes:
      name: its name in :data:`SIZES`.
      d_model: width of the residual stream.
      num_layers: transformer blocks.
      num_heads: attention heads (``d_model`` divisible by it).
      context: bytes a window predicts (it reads ``context`` and predicts the next of each).
      batch_size: windows per training step.
      max_bytes: the corpus budget (:func:`~jaxsched.workloads.text.stdlib_corpus`); ``None``: all
        of the selected standard library.
      val_windows: validation windows in ``evaluate`` (``val_windows * context`` bytes scored).
      eval_batch: windows per evaluation batch (``val_windows`` must be a multiple of it).
      mlp_ratio: MLP hidden width as a multiple of ``d_model``.
      dropout: dropout rate (0 disables it).
      description: one line for reports.
    """

    name: str
    d_model: int
    num_layers: int
    num_heads: int
    context: int
    batch_size: int
    max_bytes: int | None
    val_windows: int
    eval_batch: int
    mlp_ratio: int = 4
    dropout: float = 0.0
    description: str = ""

    def validate(self) -> None:
        """``ValueError`` naming the first bad field."""
        for name in ("d_model", "num_layers", "num_heads", "context", "batch_size",
                     "val_windows", "eval_batch", "mlp_ratio"):
            v.check_int(name, getattr(self, name), minimum=1)
        if self.max_bytes is not None:
            v.check_int("max_bytes", self.max_bytes, minimum=2)
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model must be divisible by num_heads={self.num_heads}, got "
                             f"d_model={self.d_model}")
        if self.val_windows % self.eval_batch:
            raise ValueError(f"val_windows must be a multiple of eval_batch={self.eval_batch}, "
                             f"got val_windows={self.val_windows}")
        v.check_in_range("dropout", self.dropout, 0.0, 1.0, high_inclusive=False)

    def num_params(self) -> int:
        """Parameters of the model (tied readout: the embedding counts once)."""
        d, f = self.d_model, self.mlp_ratio * self.d_model
        block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        return VOCAB * d + self.context * d + self.num_layers * block + 2 * d


SIZES: dict[str, CharLMSize] = {
    s.name: s for s in [
        CharLMSize("smoke", d_model=32, num_layers=1, num_heads=2, context=32, batch_size=16,
                   max_bytes=64 * 1024, val_windows=64, eval_batch=64,
                   description="a test's size: seconds on 2 CPU cores"),
        CharLMSize("quick", d_model=64, num_layers=2, num_heads=4, context=64, batch_size=16,
                   max_bytes=2_000_000, val_windows=128, eval_batch=128,
                   description="0.84 GFLOP per step; sized for a 3-seed grid of 7 candidates x 4 "
                   "lrs x horizons 100/200/400 (41,520 run-steps) in ~10-15 minutes on 2 quiet "
                   "CPU cores"),
        CharLMSize("cpu", d_model=64, num_layers=2, num_heads=4, context=32, batch_size=8,
                   max_bytes=2_000_000, val_windows=128, eval_batch=128,
                   description="0.1 GFLOP per step; sized by experiments/charlm_regime_probe.py "
                   "so that tuned cosine and WSD end below tuned constant at 8000 steps (a "
                   "3-seed grid of 7 candidates x 3 lrs x horizons 2000/4000/8000 in about an "
                   "hour on 2 quiet CPU cores)"),
        CharLMSize("gpu", d_model=256, num_layers=4, num_heads=8, context=256, batch_size=32,
                   max_bytes=None, val_windows=1024, eval_batch=256,
                   description="3.3M parameters on the whole selected stdlib (~880 steps per "
                   "epoch of its ~7 MB): horizons up to ~4k steps; one H100/H200"),
    ]
}
"""The sized configurations by name."""


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position ``i`` sees positions ``<= i``."""

    num_heads: int
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        length, d = x.shape[-2:]
        qkv = nn.DenseGeneral((3, self.num_heads, d // self.num_heads), name="qkv")(x)
        q, k, val = rearrange(qkv, "b l three h e -> three b h l e")
        scores = jnp.einsum("bhqe,bhke->bhqk", q, k) / math.sqrt(d // self.num_heads)
        causal = jnp.tril(jnp.ones((length, length), bool))
        weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
        weights = nn.Dropout(self.dropout)(weights, deterministic=deterministic)
        out = rearrange(jnp.einsum("bhqk,bhke->bhqe", weights, val), "b h l e -> b l (h e)")
        return nn.Dense(d, name="out")(out)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + mlp(LN(x))``."""

    num_heads: int
    mlp_ratio: int = 4
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        d = x.shape[-1]
        drop = nn.Dropout(self.dropout)
        h = CausalSelfAttention(self.num_heads, self.dropout)(nn.LayerNorm()(x), deterministic)
        x = x + drop(h, deterministic=deterministic)
        h = nn.Dense(self.mlp_ratio * d)(nn.LayerNorm()(x))
        h = nn.Dense(d)(nn.gelu(h))
        return x + drop(h, deterministic=deterministic)


class CharTransformer(nn.Module):
    """Decoder-only transformer over bytes: ``int [B, L] -> logits f32 [B, L, 256]``.

    ``L <= context``; position ``i``'s logits predict byte ``i + 1``.
    """

    d_model: int
    num_layers: int
    num_heads: int
    context: int
    mlp_ratio: int = 4
    dropout: float = 0.0

    @nn.compact
    def __call__(self, tokens: jax.Array, deterministic: bool = True) -> jax.Array:
        length = tokens.shape[-1]
        embed = nn.Embed(VOCAB, self.d_model, embedding_init=_EMBED_INIT, name="embed")
        pos = self.param("pos", _EMBED_INIT, (self.context, self.d_model))
        x = embed(tokens) + pos[:length]
        x = nn.Dropout(self.dropout)(x, deterministic=deterministic)
        for i in range(self.num_layers):
            x = Block(self.num_heads, self.mlp_ratio, self.dropout, name=f"block_{i}")(
                x, deterministic)
        return embed.attend(nn.LayerNorm(name="final_norm")(x))


def validation_starts(num_bytes: int, context: int, windows: int) -> np.ndarray:
    """``windows`` start offsets evenly spaced over ``[0, num_bytes - context - 1]`` (int32).

    The windows overlap when the validation bytes are fewer than ``windows * (context + 1)``.

    >>> validation_starts(101, 10, 3).tolist()
    [0, 45, 90]
    """
    v.check_int("context", context, minimum=1)
    v.check_int("windows", windows, minimum=1)
    if num_bytes < context + 1:
        raise ValueError(f"num_bytes must be >= context + 1 = {context + 1} (one window), got "
                         f"num_bytes={num_bytes}")
    return np.round(np.linspace(0, num_bytes - context - 1, windows)).astype(np.int32)


def _windows(data: jax.Array, starts: jax.Array, length: int) -> jax.Array:
    return data[starts[:, None] + jnp.arange(length)]


def charlm_task(size: str | CharLMSize = "smoke", corpus: Corpus | None = None) -> Task:
    """The byte language model of ``size`` on ``corpus`` as a task (see the module docstring).

    Args:
      size: a name in :data:`SIZES` or a :class:`CharLMSize`.
      corpus: the text; ``None`` reads ``stdlib_corpus(size.max_bytes)``. Pass it to keep its
        :class:`~jaxsched.workloads.text.CorpusManifest` for the outputs.

    Raises:
      ValueError: an unknown size, a bad field, or a split shorter than one window.
    """
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, got size={size!r}")
        size = SIZES[size]
    if not isinstance(size, CharLMSize):
        raise ValueError(f"size must be a name or a CharLMSize, got size={size!r}")
    size.validate()
    if corpus is None:
        corpus = stdlib_corpus(size.max_bytes)
    if not isinstance(corpus, Corpus):
        raise ValueError(f"corpus must be a jaxsched.workloads.text.Corpus, got corpus={corpus!r}")
    ctx, batch = size.context, size.batch_size
    for split in ("train", "val"):
        n = len(getattr(corpus, split))
        if n < ctx + 1:
            raise ValueError(f"corpus.{split} must hold one window of context + 1 = {ctx + 1} "
                             f"bytes, got {n} bytes")
    model = CharTransformer(size.d_model, size.num_layers, size.num_heads, ctx,
                            size.mlp_ratio, size.dropout)
    train = jnp.asarray(corpus.train)
    n_train = int(train.shape[0])
    starts = validation_starts(len(corpus.val), ctx, size.val_windows)
    val = _windows(jnp.asarray(corpus.val), jnp.asarray(starts), ctx + 1)
    val = val.reshape(size.val_windows // size.eval_batch, size.eval_batch, ctx + 1)

    def init(key: jax.Array) -> Any:
        return model.init({"params": key}, jnp.zeros((1, ctx), jnp.int32))["params"]

    def sample(key: jax.Array) -> jax.Array:
        return _windows(train, jax.random.randint(key, (batch,), 0, n_train - ctx), ctx + 1)

    def loss(params: Any, batch_bytes: jax.Array, key: jax.Array) -> jax.Array:
        tokens = batch_bytes.astype(jnp.int32)
        logits = model.apply({"params": params}, tokens[:, :-1], deterministic=False,
                             rngs={"dropout": key})
        return optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:]).mean()

    def evaluate(params: Any) -> dict[str, jax.Array]:
        def body(carry, windows):
            tokens = windows.astype(jnp.int32)
            # apply's return type covers `mutable=`; without it the output is the logits alone
            logits = cast(jax.Array, model.apply({"params": params}, tokens[:, :-1]))
            nll = optax.softmax_cross_entropy_with_integer_labels(logits, tokens[:, 1:])
            hits = jnp.argmax(logits, axis=-1) == tokens[:, 1:]
            return (carry[0] + nll.sum(), carry[1] + hits.sum(dtype=jnp.float32)), None

        zero = jnp.zeros((), jnp.float32)
        (nll, hits), _ = jax.lax.scan(body, (zero, zero), val)
        count = size.val_windows * ctx
        bpb = nll / count / math.log(2.0)
        return {"loss": bpb, "bits_per_byte": bpb, "accuracy": hits / count}

    return Task(init, loss, sample, evaluate)


def build(size: str = "quick") -> Built:
    """The catalogue's ``charlm`` workload: the byte-level language model at ``size``, on the
    running Python's standard-library source (:mod:`jaxsched.workloads.text`).

    The corpus manifest (Python version, files, bytes, sha256 of each split) is in the
    identity, so two machines with different standard libraries never share runs, in the
    REPORT's notes, and whole in ``corpus.json``.
    """
    v.check_choice("size", size, tuple(SIZES))
    s = SIZES[size]
    corpus = stdlib_corpus(s.max_bytes)
    m = corpus.manifest.to_dict(files=False)
    notes = [f"Task: byte-level decoder-only transformer, width {s.d_model}, {s.num_layers} "
             f"layers, {s.num_heads} heads, context {s.context}, batch {s.batch_size} windows; "
             f"metric: validation loss in bits per byte on {s.val_windows} fixed windows.",
             f"**Data: real text**, the standard-library source of Python {m['python']}: "
             f"{m['train_bytes']:,} training and {m['val_bytes']:,} validation bytes, split by "
             f"file; sha256 {m['sha256']} (file list in `corpus.json`)."]
    identity = {"task": "charlm", "size": s._asdict(), "corpus": m}
    return Built(charlm_task(s, corpus), identity, notes, data_name="stdlib",
                 examples_per_step=s.batch_size * s.context, train_examples=len(corpus.train),
                 chance_loss=math.log(VOCAB), files={"corpus.json": corpus.manifest.to_dict()})

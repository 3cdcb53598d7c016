"""The compiled training loop: many runs in one program, many steps per dispatch.

A *group* is R runs whose optimizers share a state structure. Their parameters, optimizer states,
step counters and PRNG keys are stacked on a leading run axis and trained by one ``vmap``-ed
``lax.scan``. Each run brings its own learning-rate table (any schedule, evaluated per step) and
its own hyperparameters (EMA decay, betas, ...), which ride on the run axis as data: constant,
linear decays of four lengths, cosine and stepwise drops all compile to the same program.

Everything random is keyed by ``fold_in(run_key, step)``: which images a step samples and which
dropout masks it draws depend on nothing else, so a run gives the same losses alone or inside
any group, and under any split of its steps into dispatches (which makes resuming exact).

The dataset lives on the device; batches are sampled with replacement inside the step, as the
notes do; the only host synchronisation is the caller reading a chunk's losses.

Example::

    trainer = GroupTrainer(TinyViT(), lambda lr, h: adam(lr, b1=h["b1"]), images, labels,
                           record_eval_loss=False)
    state = trainer.init(jnp.array([0, 1]), {"b1": jnp.array([0.9, 0.9])})
    state, losses = trainer.train(state, tables, hparams, 500)   # losses: [2, 500]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsched.optim import eval_params

MakeOptimizer = Callable[
    [Callable[[jax.Array], jax.Array], Mapping[str, jax.Array]], optax.GradientTransformation
]
"""``(lr_schedule, hparams) -> optimizer``; called inside ``vmap`` with one run's values."""


class TrainState(NamedTuple):
    """One run's state (with a leading run axis on every leaf inside a group)."""

    step: jax.Array  # int32: steps taken
    params: Any
    opt_state: Any
    key: jax.Array  # raw uint32[2] key data, so checkpoints need no key type


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy, as the notes compute it."""
    return jnp.mean(-jnp.take_along_axis(nn.log_softmax(logits), labels[:, None], axis=-1))


class GroupTrainer:
    """Trains a group of runs that share a model and an optimizer structure.

    Args:
      model: a flax module mapping images in [0, 1] to logits (``deterministic`` flag).
      make_optimizer: see :data:`MakeOptimizer`.
      train_images: uint8 ``[N, H, W, C]``; put on the device once.
      train_labels: int ``[N]``.
      batch_size: images per step (sampled with replacement).
      record_eval_loss: record the loss at ``eval_params`` after the update, on the same batch
        and dropout masks, instead of the training loss (the notes' logging for averaging and
        schedule-free runs).
      chunk_size: steps per compiled ``scan``; ``train`` dispatches ``num_steps // chunk_size``
        chunks plus one remainder, so few distinct programs are compiled.
      unroll: ``lax.scan`` unroll factor (XLA:CPU runs short looped bodies faster unrolled).
    """

    def __init__(
        self,
        model: nn.Module,
        make_optimizer: MakeOptimizer,
        train_images: Any,
        train_labels: Any,
        *,
        batch_size: int = 128,
        record_eval_loss: bool = False,
        chunk_size: int = 500,
        unroll: int = 1,
    ):
        from jaxsched.schedules import _validate as v

        v.check_int("batch_size", batch_size, minimum=1)
        v.check_int("chunk_size", chunk_size, minimum=1)
        v.check_int("unroll", unroll, minimum=1)
        images = jnp.asarray(train_images)
        labels = jnp.asarray(train_labels, jnp.int32).reshape(-1)
        if images.ndim != 4 or images.shape[0] != labels.shape[0] or images.shape[0] == 0:
            raise ValueError(
                f"train_images must be [N, H, W, C] with N = len(train_labels) > 0, got "
                f"train_images shape {images.shape} and train_labels shape {labels.shape}"
            )
        self.model = model
        self.make_optimizer = make_optimizer
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.record_eval_loss = record_eval_loss
        self.chunk_size = chunk_size
        self.unroll = unroll
        self._chunk = jax.jit(self._chunk_impl, static_argnames=("n",), donate_argnums=(0,))
        self._init = jax.jit(jax.vmap(self._init_one))
        self._eval = jax.jit(self._eval_impl, static_argnames=("batch",))

    # -- one run ------------------------------------------------------------------------------
    def _optimizer(self, table: jax.Array, hparams: Mapping[str, jax.Array]):
        last = table.shape[0] - 1
        return self.make_optimizer(lambda count: table[jnp.minimum(count, last)], hparams)

    def _init_one(self, seed: jax.Array, hparams: Mapping[str, jax.Array]) -> TrainState:
        # The notes initialise with one key for params and dropout; the training stream gets
        # the other half of the split so that it never reuses the init key.
        param_key, train_key = jax.random.split(jax.random.PRNGKey(seed))
        x = jnp.zeros((1, *self.images.shape[1:]), jnp.float32)
        params = self.model.init(
            {"params": param_key, "dropout": param_key}, x, deterministic=True
        )["params"]
        opt = self._optimizer(jnp.zeros((1,), jnp.float32), hparams)
        return TrainState(jnp.int32(0), params, opt.init(params), train_key)

    def _loss(self, params, x, y, dropout_key):
        logits = self.model.apply(
            {"params": params}, x, deterministic=False, rngs={"dropout": dropout_key}
        )
        return cross_entropy(logits, y)

    def _step(self, state: TrainState, table, hparams):
        opt = self._optimizer(table, hparams)
        data_key, dropout_key = jax.random.split(jax.random.fold_in(state.key, state.step))
        idx = jax.random.randint(data_key, (self.batch_size,), 0, self.images.shape[0])
        x = self.images[idx].astype(jnp.float32) / 255.0
        y = self.labels[idx]
        loss, grads = jax.value_and_grad(self._loss)(state.params, x, y, dropout_key)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if self.record_eval_loss:
            loss = self._loss(eval_params(opt_state, params), x, y, dropout_key)
        return TrainState(state.step + 1, params, opt_state, state.key), loss

    # -- compiled programs --------------------------------------------------------------------
    def _chunk_impl(self, state, tables, hparams, *, n: int):
        def run(s, table, h):
            return jax.lax.scan(
                lambda c, _: self._step(c, table, h), s, None, length=n, unroll=self.unroll
            )

        return jax.vmap(run)(state, tables, hparams)

    def _eval_impl(self, state, hparams, images, labels, weights, *, batch: int):
        def one(s):
            params = eval_params(s.opt_state, s.params)

            def body(carry, xs):
                x, y, w = xs
                logits = self.model.apply(
                    {"params": params}, x.astype(jnp.float32) / 255.0, deterministic=True
                )
                nll = -jnp.take_along_axis(nn.log_softmax(logits), y[:, None], axis=-1)[:, 0]
                correct = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
                return (carry[0] + jnp.sum(w * nll), carry[1] + jnp.sum(w * correct)), None

            (loss, correct), _ = jax.lax.scan(body, (0.0, 0.0), (images, labels, weights))
            total = jnp.sum(weights)
            return loss / total, correct / total

        loss, acc = jax.vmap(one)(state)
        return {"loss": loss, "accuracy": acc}

    # -- public -------------------------------------------------------------------------------
    def init(self, seeds: Any, hparams: Mapping[str, Any]) -> TrainState:
        """Fresh states for runs with these seeds; every leaf gets a leading run axis."""
        seeds = jnp.asarray(seeds, jnp.int32).reshape(-1)
        hparams = {k: jnp.asarray(v, jnp.float32).reshape(-1) for k, v in hparams.items()}
        return self._init(seeds, hparams)

    def train(
        self, state: TrainState, lr_tables: Any, hparams: Mapping[str, Any], num_steps: int
    ) -> tuple[TrainState, jax.Array]:
        """Advance every run by ``num_steps``; returns the new state and losses ``[R, steps]``.

        Run ``r`` at step ``s`` uses learning rate ``lr_tables[r, min(s, T - 1)]``. ``state``
        is donated: do not use it after the call.
        """
        if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
            raise ValueError(f"num_steps must be an integer, got num_steps={num_steps!r}")
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got num_steps={num_steps}")
        tables = jnp.asarray(lr_tables, jnp.float32)
        hparams = {k: jnp.asarray(v, jnp.float32) for k, v in hparams.items()}
        losses = []
        left = int(num_steps)
        while left:
            n = min(left, self.chunk_size)
            state, chunk = self._chunk(state, tables, hparams, n=n)
            losses.append(chunk)
            left -= n
        return state, losses[0] if len(losses) == 1 else jnp.concatenate(losses, axis=1)

    def evaluate(
        self,
        state: TrainState,
        hparams: Mapping[str, Any],
        images: Any,
        labels: Any,
        batch_size: int = 500,
    ) -> dict[str, jax.Array]:
        """Test loss and accuracy of every run at its ``eval_params``, without dropout."""
        del hparams  # evaluation needs no optimizer hyperparameters; kept for symmetry
        images = jnp.asarray(images)
        labels = jnp.asarray(labels, jnp.int32).reshape(-1)
        n = labels.shape[0]
        batch = min(batch_size, n)
        pad = (-n) % batch
        weights = jnp.concatenate([jnp.ones((n,)), jnp.zeros((pad,))])
        images = jnp.concatenate([images, jnp.zeros((pad, *images.shape[1:]), images.dtype)])
        labels = jnp.concatenate([labels, jnp.zeros((pad,), jnp.int32)])
        nb = (n + pad) // batch
        return self._eval(
            state,
            None,
            images.reshape(nb, batch, *images.shape[1:]),
            labels.reshape(nb, batch),
            weights.reshape(nb, batch),
            batch=batch,
        )


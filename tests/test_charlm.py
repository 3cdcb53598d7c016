"""The byte language model task: model, sampling, paired evaluation, training on real text."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsched.train.loop import GroupTrainer
from jaxsched.workloads import charlm
from jaxsched.workloads.text import stdlib_corpus

SMOKE = charlm.SIZES["smoke"]


@pytest.fixture(scope="module")
def corpus():
    return stdlib_corpus(SMOKE.max_bytes)


@pytest.fixture(scope="module")
def task(corpus):
    return charlm.charlm_task(SMOKE, corpus)


def test_sizes_are_valid_and_count_their_parameters(task):
    for size in charlm.SIZES.values():
        size.validate()
        assert size.description
    params = jax.eval_shape(task.init, jax.random.key(0))
    assert sum(x.size for x in jax.tree.leaves(params)) == SMOKE.num_params()
    assert "embed" in params and "pos" in params  # one embedding: the readout is tied
    assert charlm.SIZES["gpu"].context >= 256 and 2e6 < charlm.SIZES["gpu"].num_params() < 2e7


def test_model_is_causal():
    model = charlm.CharTransformer(d_model=16, num_layers=2, num_heads=2, context=8)
    tokens = jnp.arange(8)[None] * 11
    params = jax.jit(model.init)(jax.random.key(0), tokens)["params"]
    apply = jax.jit(lambda t: model.apply({"params": params}, t))
    a, b = apply(tokens), apply(tokens.at[0, 5].set(200))
    assert a.shape == (1, 8, charlm.VOCAB)
    np.testing.assert_allclose(a[0, :5], b[0, :5], rtol=1e-6, atol=1e-6)
    assert not np.allclose(a[0, 5:], b[0, 5:])


def test_sample_gathers_windows_of_the_training_bytes(task, corpus):
    batch = np.asarray(task.sample(jax.random.key(3)))
    assert batch.shape == (SMOKE.batch_size, SMOKE.context + 1) and batch.dtype == np.uint8
    train = corpus.train.tobytes()
    assert all(row.tobytes() in train for row in batch)
    assert not np.array_equal(batch, np.asarray(task.sample(jax.random.key(4))))


@pytest.fixture(scope="module")
def params(task):
    return jax.jit(task.init)(jax.random.key(0))


def test_loss_is_mean_next_byte_cross_entropy_in_nats(task, params):
    batch = task.sample(jax.random.key(1))
    model = charlm.CharTransformer(SMOKE.d_model, SMOKE.num_layers, SMOKE.num_heads,
                                   SMOKE.context)
    tokens = batch.astype(jnp.int32)
    logp = jax.nn.log_softmax(jax.jit(model.apply)({"params": params}, tokens[:, :-1]))
    want = -jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1).mean()
    got = jax.jit(task.loss)(params, batch, jax.random.key(2))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert abs(float(want) - math.log(256)) < 0.3  # near-uniform logits at init


def test_evaluate_is_bits_per_byte_on_fixed_validation_windows(task, corpus, params):
    evaluate = jax.jit(task.evaluate)
    m = evaluate(params)
    assert set(m) == {"loss", "bits_per_byte", "accuracy"}
    assert float(m["loss"]) == float(m["bits_per_byte"]) == float(evaluate(params)["loss"])
    model = charlm.CharTransformer(SMOKE.d_model, SMOKE.num_layers, SMOKE.num_heads,
                                   SMOKE.context)
    starts = charlm.validation_starts(len(corpus.val), SMOKE.context, SMOKE.val_windows)
    windows = np.stack([corpus.val[s:s + SMOKE.context + 1] for s in starts]).astype(np.int32)
    logits = jax.jit(model.apply)({"params": params}, windows[:, :-1])
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:])
    np.testing.assert_allclose(m["loss"], nll.mean() / math.log(2), rtol=1e-5)
    acc = (jnp.argmax(logits, -1) == windows[:, 1:]).mean()
    np.testing.assert_allclose(m["accuracy"], acc, rtol=1e-6)


def test_validation_starts():
    s = charlm.validation_starts(1000, 64, 9)
    assert s[0] == 0 and s[-1] == 1000 - 65 and np.all(np.diff(s) > 0)
    with pytest.raises(ValueError, match="num_bytes"):
        charlm.validation_starts(64, 64, 2)
    with pytest.raises(ValueError, match="windows"):
        charlm.validation_starts(1000, 64, 0)


def test_smoke_training_beats_the_unigram_entropy(task, corpus):
    counts = np.bincount(corpus.val, minlength=256)
    p = counts[counts > 0] / counts.sum()
    unigram_bits = float(-(p * np.log2(p)).sum())
    trainer = GroupTrainer(task, lambda lr, h: optax.adam(3e-3), chunk_size=200)
    state = trainer.init(jnp.array([0]), {})
    before = float(trainer.evaluate(state)["loss"][0])
    state, losses = trainer.train(state, jnp.zeros((1, 1)), {}, 200)
    after = float(trainer.evaluate(state)["loss"][0])
    assert abs(before - 8.0) < 0.5
    assert after < unigram_bits, (after, unigram_bits)
    assert np.all(np.isfinite(np.asarray(losses)))


@pytest.mark.parametrize("change, name", [
    ({"d_model": 31}, "d_model"), ({"val_windows": 65}, "val_windows"),
    ({"context": 0}, "context"), ({"dropout": 1.0}, "dropout"),
    ({"max_bytes": 1}, "max_bytes"), ({"batch_size": 2.0}, "batch_size"),
])
def test_bad_sizes(corpus, change, name):
    with pytest.raises(ValueError, match=name):
        charlm.charlm_task(SMOKE._replace(**change), corpus)


def test_bad_arguments(corpus):
    with pytest.raises(ValueError, match="size"):
        charlm.charlm_task("huge", corpus)
    with pytest.raises(ValueError, match="corpus"):
        charlm.charlm_task(SMOKE, corpus.train)
    with pytest.raises(ValueError, match="corpus.val"):
        charlm.charlm_task(SMOKE, stdlib_corpus(max_bytes=100))

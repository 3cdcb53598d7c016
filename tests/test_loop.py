"""The compiled group trainer: keys, chunking, groups, logging at eval params, evaluation.

The task is the notes' image classifier on a toy set (``image_classification_task``); the
task's own validation is tested in ``test_task.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsched import optim
from jaxsched.train.loop import GroupTrainer, TaskPrograms, TrainState
from jaxsched.train.task import Task
from jaxsched.workloads.image import cross_entropy, image_classification_task
from jaxsched.workloads.tinyvit import TinyViT

MODEL = TinyViT(features=16, patch_size=4, num_blocks=1, num_heads=2)
N, SIZE, BATCH = 96, 16, 8
# Compile time dominates these tests on a busy 2-core machine: skip LLVM's expensive passes.
FAST = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def Trainer(make, **kw):  # noqa: N802 - stands for the class
    return GroupTrainer(TASK, make, compiler_options=FAST, **kw)


def toy_data(n=N, seed=0):
    """Learnable: the label is which of 10 colour patterns dominates, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int32)
    base = rng.integers(0, 256, (10, 1, 1, 3))
    noise = rng.normal(0, 40, (n, SIZE, SIZE, 3))
    imgs = np.clip(base[labels] + noise, 0, 255).astype(np.uint8)
    return imgs, labels


IMAGES, LABELS = toy_data()
TEST_X, TEST_Y = toy_data(37, seed=3)
TASK = image_classification_task(MODEL, jnp.asarray(IMAGES), jnp.asarray(LABELS),
                                 batch_size=BATCH, test_images=TEST_X, test_labels=TEST_Y,
                                 eval_batch_size=10)  # a padded last batch


def make_adam(lr, h):
    return optim.adam(lr, b1=h["b1"])


def make_polyak(lr, h):
    return optim.polyak_average(optim.adam(lr, b1=h["b1"]))


def hp(*b1):
    return {"b1": jnp.asarray(b1, jnp.float32)}


@pytest.fixture(scope="module")
def trainer():
    return Trainer(make_adam, chunk_size=64)


@pytest.fixture(scope="module")
def polyak():
    """Polyak-averaged Adam: plain, and logging the eval-params loss after / before the step."""
    return {
        "plain": Trainer(make_polyak, chunk_size=4),
        "after": Trainer(make_polyak, record_eval_loss=True, chunk_size=4),
        "before": Trainer(make_polyak, record_eval_loss=True, eval_loss_timing="before",
                          chunk_size=4),
    }


def tables(*rows, length=8):
    return jnp.asarray([np.full(length, r, np.float32) for r in rows])


def leaves_equal(a, b):
    return all(bool(jnp.array_equal(x, y)) for x, y in zip(jax.tree.leaves(a),
                                                           jax.tree.leaves(b), strict=True))


# ------------------------------------------------------------------------------ tests


def test_init_shapes_and_notes_seed_derivation(trainer):
    state = trainer.init(np.array([0, 5, 3]), hp(0.9, 0.9, 0.8))
    assert isinstance(state, TrainState)
    assert state.step.shape == (3,) and state.step.dtype == jnp.int32
    assert state.key.shape == (3, 2) and state.key.dtype == jnp.uint32
    for leaf in jax.tree.leaves((state.params, state.opt_state)):
        assert leaf.shape[0] == 3
    # notes: key, param_key = split(PRNGKey(seed)); params from param_key
    key, param_key = jax.random.split(jax.random.PRNGKey(5))
    ref = jax.jit(MODEL.init, static_argnames="deterministic")(
        {"params": param_key, "dropout": param_key}, jnp.zeros((1, SIZE, SIZE, 3)),
        deterministic=True,
    )["params"]
    # (not bit-equal: the trainer's programs are compiled with other LLVM options)
    for ours, theirs in zip(jax.tree.leaves(state.params), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(ours[1], theirs, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(state.key[1], key)


def test_losses_shape_determinism_and_chunking(trainer):
    seeds, h, t = np.array([0, 1]), hp(0.9, 0.9), tables(1e-3, 3e-3)
    a, la = trainer.train(trainer.init(seeds, h), t, h, 100)  # 64 + 36 inside
    assert la.shape == (2, 100) and la.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(la)))
    b, lb1 = trainer.train(trainer.init(seeds, h), t, h, 40)
    b, lb2 = trainer.train(b, t, h, 60)
    np.testing.assert_array_equal(la, jnp.concatenate([lb1, lb2], axis=1))
    assert leaves_equal(a, b)
    assert a.step.tolist() == [100, 100]
    _, none = trainer.train(b, t, h, 0)
    assert none.shape == (2, 0)


def test_unrolled_loop_takes_the_same_steps(trainer):
    h, t = hp(0.9, 0.8), tables(1e-3, 2e-3)
    unrolled = Trainer(make_adam, chunk_size=64, unroll=3)
    _, ref = trainer.train(trainer.init(np.array([0, 1]), h), t, h, 8)
    state, first = unrolled.train(unrolled.init(np.array([0, 1]), h), t, h, 7)  # 2 x 3 + 1
    _, second = unrolled.train(state, t, h, 1)
    np.testing.assert_allclose(jnp.concatenate([first, second], axis=1), ref, rtol=1e-5)


def test_run_in_group_equals_run_alone(trainer):
    # every table has T = 8 here so that one compiled program serves (T is a shape)
    h3, t3 = hp(0.9, 0.8, 0.95), jnp.stack([jnp.linspace(1e-3, 0, 8)] * 3) * jnp.array(
        [[1.0], [2.0], [0.5]])
    group, lg = trainer.train(trainer.init(np.array([4, 7, 9]), h3), t3, h3, 30)
    alone, la = trainer.train(trainer.init(np.array([7]), hp(0.8)), t3[1:2], hp(0.8), 30)
    np.testing.assert_allclose(lg[1], la[0], rtol=2e-5, atol=2e-6)
    # Losses agree to float32 tolerance; parameters are compared at the scale of one Adam step
    # (lr): where a gradient is ~0, m / (sqrt(v) + eps) turns vmap's different summation order
    # into O(lr) differences of either sign, which is rounding, not a different trajectory.
    for g, a in zip(jax.tree.leaves(group.params), jax.tree.leaves(alone.params), strict=True):
        np.testing.assert_allclose(g[1], a[0], rtol=1e-3, atol=1e-3)


def test_lr_table_indexing(trainer):
    h = hp(0.9, 0.9)
    start = trainer.init(np.array([0, 1]), h)
    params0 = jax.tree.map(np.asarray, start.params)
    # run 0: lr 0 throughout; run 1: lr 0 for 5 steps, then 1e-3 (the last entry repeats
    # past the table's end)
    t = jnp.asarray([[0.0] * 8, [0.0] * 5 + [1e-3] * 3])
    state, _ = trainer.train(start, t, h, 5)
    assert leaves_equal(jax.tree.map(lambda a: a[1], state.params),
                        jax.tree.map(lambda a: a[1], params0))
    state, _ = trainer.train(state, t, h, 10)
    assert leaves_equal(jax.tree.map(lambda a: a[0], state.params),
                        jax.tree.map(lambda a: a[0], params0))
    moved = [float(jnp.max(jnp.abs(a[1] - b[1])))
             for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(params0), strict=True)]
    assert max(moved) > 1e-4


def test_state_is_donated(trainer):
    h = hp(0.9)
    state = trainer.init(np.array([0]), h)
    new, _ = trainer.train(state, tables(1e-3), h, 3)
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves(state.params))
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(new.params))


def test_loss_decreases_on_a_learnable_set(trainer):
    h = hp(0.9)
    _, losses = trainer.train(trainer.init(np.array([0]), h), tables(3e-3), h, 200)
    losses = np.asarray(losses[0])
    assert losses[-40:].mean() < 0.6 * losses[:20].mean()


@jax.jit
def _loss_on_step_batch(state_key, step, params):
    """The trainer's keying written out: fold_in(run key, step) -> data and dropout keys."""
    k = jax.random.fold_in(jax.random.wrap_key_data(state_key, impl="threefry2x32"), step)
    data_key, dropout_key = jax.random.split(k)
    idx = jax.random.randint(data_key, (BATCH,), 0, N)
    x = jnp.asarray(IMAGES)[idx].astype(jnp.float32) / 255.0
    logits = MODEL.apply({"params": params}, x, rngs={"dropout": dropout_key})
    return cross_entropy(logits, jnp.asarray(LABELS)[idx])


@pytest.mark.parametrize("timing", ["after", "before"])
def test_record_eval_loss_is_the_loss_at_eval_params_on_the_same_batch(polyak, timing):
    plain, logged = polyak["plain"], polyak[timing]
    h, t = hp(0.9), tables(3e-3)
    s = plain.init(np.array([3]), h)
    key = s.key[0]
    snapshots = [jax.tree.map(lambda a: a[0], s)]
    train_losses = []
    for _ in range(3):
        s, loss = plain.train(s, t, h, 1)
        snapshots.append(jax.tree.map(lambda a: a[0], s))
        train_losses.append(float(loss[0, 0]))
    _, eval_losses = logged.train(logged.init(np.array([3]), h), t, h, 3)
    for step in range(3):
        one = snapshots[step + 1] if timing == "after" else snapshots[step]
        expected = _loss_on_step_batch(key, step, optim.eval_params(one.opt_state, one.params))
        np.testing.assert_allclose(eval_losses[0, step], expected, rtol=2e-5)
        # the plain trainer logs the training loss: live params before the step
        live = _loss_on_step_batch(key, step, snapshots[step].params)
        np.testing.assert_allclose(train_losses[step], live, rtol=2e-5)
    assert np.max(np.abs(np.asarray(eval_losses[0]) - train_losses)) > 1e-6


def test_evaluate_is_the_tasks_metrics_at_each_run(trainer):
    h = hp(0.9, 0.9)
    state, _ = trainer.train(trainer.init(np.array([0, 1]), h), tables(1e-3, 1e-3), h, 5)
    metrics = trainer.evaluate(state)
    assert set(metrics) == {"loss", "accuracy"} and metrics["loss"].shape == (2,)
    for r in range(2):
        params = jax.tree.map(lambda a, r=r: a[r], state.params)
        logits = MODEL.apply({"params": params}, jnp.asarray(TEST_X) / 255.0, deterministic=True)
        np.testing.assert_allclose(metrics["loss"][r], cross_entropy(logits, TEST_Y), rtol=1e-5)
        acc = float(jnp.mean(jnp.argmax(logits, -1) == TEST_Y))
        np.testing.assert_allclose(metrics["accuracy"][r], acc, atol=1e-6)


def test_evaluate_uses_eval_params(polyak):
    trainer = polyak["plain"]
    h = hp(0.9)
    state, _ = trainer.train(trainer.init(np.array([0]), h), tables(1e-2), h, 4)
    one = jax.tree.map(lambda a: a[0], state)
    avg = optim.eval_params(one.opt_state, one.params)
    logits = MODEL.apply({"params": avg}, jnp.asarray(TEST_X) / 255.0, deterministic=True)
    metrics = trainer.evaluate(state)
    np.testing.assert_allclose(metrics["loss"][0], cross_entropy(logits, TEST_Y), rtol=1e-5)


def test_trainers_sharing_task_programs_compile_init_and_metrics_once():
    programs = TaskPrograms(TASK, compiler_options=FAST)
    adam = GroupTrainer(TASK, make_adam, compiler_options=FAST, programs=programs)
    polyak = GroupTrainer(TASK, make_polyak, compiler_options=FAST, programs=programs)
    own = GroupTrainer(TASK, make_adam, compiler_options=FAST)  # its own programs
    evaluated = []
    for t, b1 in [(adam, (0.9, 0.9, 0.8)), (polyak, (0.9,)), (adam, (0.9, 0.8)), (own, (0.9,))]:
        h = hp(*b1)
        state, _ = t.train(t.init(np.arange(len(b1)), h), tables(*(1e-2,) * len(b1)), h, 3)
        shared = t.evaluate(state)
        # the same numbers as the group's own vmapped program, to float32 rounding
        vmapped = t._eval(state)
        for name in ("loss", "accuracy"):
            assert shared[name].shape == (len(b1),)
            np.testing.assert_allclose(shared[name], vmapped[name], rtol=2e-6)
        evaluated.append(state)
    # three groups of two optimizers and three sizes: one compile each of init and metrics
    assert programs.fresh._cache_size() == 1 and programs.metrics._cache_size() == 1
    # the parameters are, bit for bit, those of one vmapped program over the group's seeds
    seeds = np.array([0, 7, 3])
    vmapped = jax.jit(jax.vmap(lambda s: programs.task.init(jax.random.split(
        jax.random.key(s, impl="threefry2x32"))[1])), compiler_options=FAST)(seeds)
    for a, b in zip(jax.tree.leaves(adam.init(seeds, hp(0.9, 0.9, 0.9)).params),
                    jax.tree.leaves(vmapped), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="programs"):
        GroupTrainer(TASK, make_adam, programs=TaskPrograms(Task(
            init=lambda k: jnp.ones(3), loss=lambda p, b, k: jnp.sum(p),
            sample=lambda k: jnp.ones(3))))


def test_a_task_without_evaluate_reports_the_loss_on_a_fixed_batch():
    task = Task(init=lambda k: jnp.ones(3), loss=lambda p, b, k: jnp.mean((b - p) ** 2),
                sample=lambda k: jax.random.normal(k, (8, 3)))
    t = GroupTrainer(task, make_adam, compiler_options=FAST)
    h = hp(0.9, 0.9)
    state = t.init(np.array([0, 1]), h)
    first = t.evaluate(state)["loss"]
    assert first.shape == (2,) and float(first[0]) == float(first[1])  # same params, same batch
    state, _ = t.train(state, tables(0.1, 0.0), h, 20)
    after = t.evaluate(state)["loss"]
    assert float(after[0]) < float(first[0]) and float(after[1]) == float(first[1])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: GroupTrainer(MODEL, make_adam), "task"),
        (lambda: GroupTrainer(TASK, make_adam, chunk_size=0), "chunk_size"),
        (lambda: GroupTrainer(TASK, make_adam, unroll=0), "unroll"),
        (lambda: GroupTrainer(TASK, make_adam, eval_loss_timing="never"), "eval_loss_timing"),
        (lambda: GroupTrainer(TASK, make_adam, record_eval_loss=1), "record_eval_loss"),
        (lambda: GroupTrainer(TASK, "adam"), "make_optimizer"),
        (lambda: GroupTrainer(Task(None, None, None), make_adam), "init"),
    ],
)
def test_bad_trainer_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_bad_call_arguments(trainer):
    h = hp(0.9, 0.9)
    with pytest.raises(ValueError, match="seeds"):
        trainer.init(np.array([[0, 1]]), h)
    with pytest.raises(ValueError, match="hparams"):
        trainer.init(np.array([0, 1]), hp(0.9))
    state = trainer.init(np.array([0, 1]), h)
    with pytest.raises(ValueError, match="lr_tables"):
        trainer.train(state, tables(1e-3), h, 2)
    with pytest.raises(ValueError, match="num_steps"):
        trainer.train(state, tables(1e-3, 1e-3), h, -1)
    with pytest.raises(ValueError, match="num_steps"):
        trainer.train(state, tables(1e-3, 1e-3), h, 2.0)


SHARDED = textwrap.dedent(
    """
    import numpy as np, jax, jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from jaxsched import optim
    from jaxsched.train.loop import GroupTrainer
    from jaxsched.workloads.tinyvit import TinyViT
    from jaxsched.workloads.image import image_classification_task
    assert len(jax.devices()) == 4
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 64).astype(np.int32)
    model = TinyViT(features=16, patch_size=4, num_blocks=1, num_heads=2)
    make = lambda lr, h: optim.adam(lr, b1=h["b1"])
    mesh = Mesh(np.array(jax.devices()), ("r",))
    runs, rep = NamedSharding(mesh, P("r")), NamedSharding(mesh, P())
    h = {"b1": jnp.array([0.9, 0.8, 0.85, 0.95])}
    t = jnp.asarray(np.linspace(1e-3, 3e-3, 4)[:, None] * np.ones((4, 10)), jnp.float32)
    plain = GroupTrainer(image_classification_task(model, jnp.asarray(imgs),
                                                   jnp.asarray(labels), batch_size=8), make)
    _, ref = plain.train(plain.init(np.arange(4), h), t, h, 6)
    task = image_classification_task(model, jax.device_put(imgs, rep),
                                     jax.device_put(labels, rep), batch_size=8)
    sharded = GroupTrainer(task, make)
    state = jax.device_put(sharded.init(np.arange(4), h), runs)
    state, out = sharded.train(state, jax.device_put(t, runs), jax.device_put(h, runs), 6)
    assert state.params["Conv_0"]["kernel"].sharding.spec[0] == "r"
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # one run, the batch split over the devices
    b = GroupTrainer(task, make, batch_sharding=NamedSharding(mesh, P("r")))
    _, one = b.train(b.init(np.arange(1), {"b1": h["b1"][:1]}), t[:1], {"b1": h["b1"][:1]}, 6)
    _, ref1 = plain.train(plain.init(np.arange(1), {"b1": h["b1"][:1]}), t[:1],
                          {"b1": h["b1"][:1]}, 6)
    np.testing.assert_allclose(one, ref1, rtol=1e-5, atol=1e-6)
    print("OK")
    """
)


@pytest.mark.slow
def test_sharded_runs_and_batch_match_single_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK" in out.stdout

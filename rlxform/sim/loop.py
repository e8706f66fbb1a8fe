"""One ``lax.scan`` loop with recording blocks, and freezing on non-finite updates.

``scan_records(step, record, carry, xs, num_steps, record_every)`` runs
``step(carry, x) -> (carry, aux)`` for T steps as R-1 blocks of E = record_every steps and
records ``record(carry, aux[E] | None, step)`` after each block (and once before the first):
memory grows only with what is recorded. It serves the simulator, exact ascent and (later)
multi-epoch updates, whose inner epochs are a ``step``. ``freeze_if_nonfinite(optimizer)`` is an
optax ``GradientTransformation`` that zeroes every update from the first step whose update or
new params are not finite on (the run stays at its last finite params) and records that step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rlxform.types import Array, ArrayLike, PyTree


def all_finite(tree: PyTree) -> Array:
    """bool[]: every leaf of ``tree`` is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves))


class FreezeState(NamedTuple):
    """State of ``freeze_if_nonfinite``: the inner state, steps taken, first bad step (-1)."""

    inner: PyTree
    count: Array
    nonfinite_step: Array


def freeze_if_nonfinite(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """``inner`` that stops for good at its first non-finite update.

    At the first step where the incoming updates or ``params + inner updates`` are not finite,
    ``nonfinite_step`` records the step (count) and from then on every update is zero and the
    inner state is kept: the params stay at their last finite value (needs ``params``).
    """

    def init(params: PyTree) -> FreezeState:
        zero = jnp.asarray(0, jnp.int32)
        return FreezeState(inner.init(params), zero, jnp.asarray(-1, jnp.int32))

    def update(updates: PyTree, state: FreezeState, params: PyTree | None = None):
        new_updates, new_inner = inner.update(updates, state.inner, params)
        new_params = optax.apply_updates(params, new_updates)
        bad = ~(all_finite(updates) & all_finite(new_params))
        first = jnp.where((state.nonfinite_step < 0) & bad, state.count, state.nonfinite_step)
        frozen = first >= 0
        new_updates = jax.tree_util.tree_map(
            lambda u: jnp.where(frozen, jnp.zeros_like(u), u), new_updates
        )
        new_inner = jax.tree_util.tree_map(
            lambda new, old: jnp.where(frozen, old, new), new_inner, state.inner
        )
        return new_updates, FreezeState(new_inner, state.count + 1, first)

    return optax.GradientTransformation(init, update)


def make_optimizer(name: str, learning_rate: ArrayLike) -> optax.GradientTransformation:
    """optax sgd or adam with a (possibly traced) learning rate; built per call, never global."""
    if name == "sgd":
        return optax.sgd(learning_rate)
    return optax.adam(learning_rate)


class TrainState(NamedTuple):
    """Carry of gradient ascent: trainable params and the (frozen-on-non-finite) optimizer."""

    trainable: PyTree
    opt_state: FreezeState


def ascent_step(optimizer: optax.GradientTransformation, grad_fn: Callable):
    """``step(state, x)`` of ascent along ``grad_fn(trainable, x) -> (grads, aux)``."""

    def step(state: TrainState, x: Any) -> tuple[TrainState, Any]:
        grads, aux = grad_fn(state.trainable, x)
        ascent = jax.tree_util.tree_map(jnp.negative, grads)
        updates, opt_state = optimizer.update(ascent, state.opt_state, state.trainable)
        return TrainState(optax.apply_updates(state.trainable, updates), opt_state), aux

    return step


def scan_records(
    step: Callable[[Any, Any], tuple[Any, Any]],
    record: Callable[[Any, Any, Array], Any],
    carry: Any,
    xs: Any,
    num_steps: int,
    record_every: int,
) -> tuple[Any, Any]:
    """Scan ``step`` over T steps in blocks of E, recording after each block.

    Args:
      step: ``(carry, x) -> (carry, aux)``, one step.
      record: ``(carry, aux with leading [E] or None, step int32[]) -> record pytree``; called
        with ``aux=None`` and step 0 for the initial record.
      carry: the initial carry.
      xs: per-step inputs with leading axes ``[T / E, E]``, or None.
      num_steps, record_every: T and E (E divides T).
    Returns:
      (final carry, records with leading axis R = T / E + 1).
    """
    ends = jnp.arange(record_every, num_steps + 1, record_every, dtype=jnp.int32)

    def block(carry, x):
        end, items = x
        carry, aux = jax.lax.scan(step, carry, items, length=record_every)
        return carry, record(carry, aux, end)

    first = record(carry, None, jnp.asarray(0, jnp.int32))
    carry, records = jax.lax.scan(block, carry, (ends, xs))
    joined = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, records)
    return carry, joined

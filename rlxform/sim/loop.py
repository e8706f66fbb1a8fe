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
    first_in_scan: bool = False,
) -> tuple[Any, Any]:
    """Scan ``step`` over T steps in blocks of E, recording after each block.

    Args:
      step: ``(carry, x) -> (carry, aux)``, one step.
      record: ``(carry, aux with leading [E] or None, step int32[]) -> record pytree``; called
        with ``aux=None`` and step 0 for the initial record.
      carry: the initial carry.
      xs: per-step inputs with leading axes ``[T / E, E]``, or None.
      num_steps, record_every: T and E (E divides T).
      first_in_scan: make the initial record inside the scan (one ``lax.scan`` over R
        iterations, iteration 0 skipping its steps with ``lax.cond``, ``record`` getting zeros
        for aux), so ``record`` is traced and compiled once. For a carry that is not a
        compile-time constant (e.g. behind ``lax.optimization_barrier``); a constant initial
        carry's record outside the scan is folded by XLA at compile time, with other rounding
        than the compiled record (the golden digests hold those values).
    Returns:
      (final carry, records with leading axis R = T / E + 1).
    """
    if first_in_scan:
        return _scan_records_once(step, record, carry, xs, num_steps, record_every)
    ends = jnp.arange(record_every, num_steps + 1, record_every, dtype=jnp.int32)

    def block(carry, x):
        end, items = x
        carry, aux = jax.lax.scan(step, carry, items, length=record_every)
        return carry, record(carry, aux, end)

    first = record(carry, None, jnp.asarray(0, jnp.int32))
    carry, records = jax.lax.scan(block, carry, (ends, xs))
    joined = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, records)
    return carry, joined


def _scan_records_once(step, record, carry, xs, num_steps, record_every):
    """``scan_records`` with the initial record inside the scan (``first_in_scan``)."""
    block_xs = None if xs is None else jax.tree_util.tree_map(lambda x: x[0], xs)
    aux = jax.eval_shape(
        lambda c, x: jax.lax.scan(step, c, x, length=record_every)[1], carry, block_xs
    )
    no_aux = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), aux)
    if xs is not None:  # iteration r takes block r - 1 (iteration 0 reads block 0, skips it)
        xs = jax.tree_util.tree_map(lambda x: jnp.concatenate([x[:1], x]), xs)
    ends = jnp.arange(0, num_steps + 1, record_every, dtype=jnp.int32)

    def block(carry, x):
        end, items = x
        run = lambda c: jax.lax.scan(step, c, items, length=record_every)
        carry, aux = jax.lax.cond(end > 0, run, lambda c: (c, no_aux), carry)
        return carry, record(carry, aux, end)

    return jax.lax.scan(block, carry, (ends, xs))

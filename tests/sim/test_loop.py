"""The scan loop and the freeze-on-non-finite optax wrapper, by hand-computed cases."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rlxform.sim import loop


def test_freeze_records_the_first_bad_step_and_keeps_the_last_finite_params():
    opt = loop.freeze_if_nonfinite(optax.sgd(1.0))
    params = {"w": jnp.array([1.0, 2.0])}
    state = opt.init(params)
    grads = [np.array([0.5, 0.5]), np.array([np.inf, 0.0]), np.array([1.0, 1.0])]

    @jax.jit  # one program for the three steps (not one eager compile per primitive)
    def step(g, state, params):
        updates, state = opt.update({"w": g}, state, params)
        return optax.apply_updates(params, updates), state

    for g in grads:
        params, state = step(g, state, params)
    # step 0: w = 1.5, 2.5 (sgd descends the update); steps 1 and 2 are frozen
    np.testing.assert_array_equal(params["w"], [0.5, 1.5])
    assert int(state.nonfinite_step) == 1 and int(state.count) == 3


def test_freeze_sees_an_overflowing_step_and_keeps_adam_state():
    opt = loop.freeze_if_nonfinite(optax.adam(1e38))
    params = {"w": jnp.array([3e38], jnp.float32)}
    state = opt.init(params)
    update = jax.jit(opt.update)  # one program (not one eager compile per primitive)
    updates, state = update({"w": np.array([-1.0], np.float32)}, state, params)
    assert int(state.nonfinite_step) == 0
    np.testing.assert_array_equal(updates["w"], 0.0)
    np.testing.assert_array_equal(state.inner[0].count, 0)  # adam's own count did not move


def test_scan_records_blocks_steps_and_aux():
    def step(total, x):
        return total + x, x * 10

    def record(total, aux, end):
        seen = jnp.float32(0) if aux is None else jnp.sum(aux)
        return {"total": total, "aux": seen, "step": end}

    xs = jnp.arange(6, dtype=jnp.float32).reshape(3, 2)
    total, records = loop.scan_records(step, record, jnp.float32(0), xs, 6, 2)
    assert float(total) == 15.0
    np.testing.assert_array_equal(records["step"], [0, 2, 4, 6])
    np.testing.assert_array_equal(records["total"], [0, 1, 6, 15])
    np.testing.assert_array_equal(records["aux"], [0, 10, 50, 90])


def test_scan_records_without_inputs():
    _, records = loop.scan_records(
        lambda c, _: (c * 2, None), lambda c, a, e: c, jnp.float32(1), None, 4, 1
    )
    np.testing.assert_array_equal(records, [1, 2, 4, 8, 16])

"""A float32 simulation must not round later float64 references in the same process (issue 23).

While a jitted function that made a constant of a NumPy array object is alive, JAX 0.10 hands
that float32 constant back for a later ``jnp.asarray`` of the same object, even under x64: cached
read-only scheme tables that entered the simulator bare came back rounded in float64 references
(rloo, M = 7: tables off by 2e-8, the exact objective by 5e-9 relative, on rlxform 0.4.1). The
tables now enter JAX as fresh copies with explicit dtypes, and exact references run in NumPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import rlxform
from rlxform.core import schemes
from rlxform.core.objective import transform
from rlxform.sim.ascent import initial_params, policy_of


def test_float64_references_after_a_float32_simulation():
    scheme, m = schemes.rloo(), 7  # a[S] = (7 - S)/6: not float32 numbers; no eps
    cfg = rlxform.SimConfig(
        scheme,
        problem=rlxform.Problem(
            policy="tabular", num_prompts=2, num_responses=3, init_p=(0.3, 0.6)
        ),
        group_size=m,
        num_steps=2,
        record_every=1,
    )
    simulate = rlxform.make_simulate(cfg)  # kept alive: its constants are what leaked
    metrics = simulate(rlxform.HParams(np.float32(0.1)), jax.random.key(0))
    assert np.asarray(metrics.p).dtype == np.float32  # the float32 run went through
    t = transform(scheme, m)
    p = np.linspace(0.0, 1.0, 9)
    with jax.enable_x64(True):
        a_table, b_table = scheme.traced_tables(m, None)
        assert a_table.dtype == jnp.float64
        np.testing.assert_allclose(
            np.stack([a_table, b_table]), np.stack(scheme.tables(m)), rtol=1e-12, atol=0
        )
        for table, exact in zip(scheme.traced_tables(m, None), scheme.tables(m), strict=True):
            assert np.array_equal(np.asarray(table), exact)  # float64, not float32 rounded
        # w_M and h_M through JAX (the simulator's objective route) against NumPy float64
        np.testing.assert_allclose(jax.jit(t.weight)(jnp.asarray(p)), t.weight(p), rtol=1e-12)
        np.testing.assert_allclose(
            jax.jit(t.objective)(jnp.asarray(p)), t.objective(p), rtol=1e-12, atol=1e-15
        )
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), initial_params(cfg))
        p_init = np.asarray(policy_of(cfg).p_correct(params), np.float64)
        got = float(rlxform.exact.objective(params, cfg))
    want = float(np.mean(t.objective(p_init)))
    assert abs(got - want) <= 1e-12 * abs(want)
    del simulate

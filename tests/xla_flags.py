"""XLA flags of the test processes.

The suite spends most of its time compiling. Tests compile with XLA's backend (LLVM)
optimisation level 0. Measured on the default suite, 2 CPU cores, side by side: XLA compile
seconds 393 (level 3, the default) / 334 (level 1) / 253 (level 0), the rest 293 / 289 / 290 s,
wall 377 / 341 / 304 s; a few long exact-ascent loops run up to 1.6x slower at level 0. Results
agree with the default level to float rounding, so every tolerance-based check proves the same
thing. The bitwise golden guards pin what users get, so they run in a subprocess at the user's
own flags (``user_env``), as does the sharding test's bitwise part-of-the-grid check.
An explicit ``--xla_backend_optimization_level`` in XLA_FLAGS is left as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

FAST = "--xla_backend_optimization_level=0"
# ``jax.jit(..., compiler_options=LOOP_OPTIONS)``: XLA's default level for the few programs
# that run long loops (tests/sim/test_kl_ascent.py), where level 0's slower code costs more
# than its faster compile saves
LOOP_OPTIONS = {"xla_backend_optimization_level": 3}
_SAVED = "RLXFORM_TEST_USER_XLA_FLAGS"  # the flags before `apply`, inherited by xdist workers


def apply() -> None:
    """Add ``FAST`` to XLA_FLAGS (before JAX starts its backend)."""
    user = os.environ.setdefault(_SAVED, os.environ.get("XLA_FLAGS", ""))
    if "xla_backend_optimization_level" not in user:
        os.environ["XLA_FLAGS"] = f"{user} {FAST}".strip()


def user_env() -> dict[str, str]:
    """This process's environment with XLA_FLAGS as the user set them."""
    env = dict(os.environ)
    user = env.pop(_SAVED, env.get("XLA_FLAGS", ""))
    if user:
        env["XLA_FLAGS"] = user
    else:
        env.pop("XLA_FLAGS", None)
    return env


def json_at_user_flags(script: str) -> object:
    """Run ``python script`` at the user's XLA flags; its stdout parsed as JSON."""
    proc = subprocess.run(
        [sys.executable, script], env=user_env(), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)

"""The exact core imports no JAX: ``import rlxform``, every ``rlxform.core`` module, the cards and
``rlxform --version`` / ``--help`` load none of jax, jaxlib, flax, optax, matplotlib.

Checked in fresh subprocesses (this test process has JAX loaded already). The simulator's names
of ``rlxform.__all__`` load on first access (PEP 562) and are the same objects as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import rlxform

ROOT = Path(__file__).parents[2]
HEAVY = ("jax", "jaxlib", "flax", "optax", "matplotlib")
CORE = sorted(
    f"rlxform.core.{path.stem}"
    for path in (ROOT / "rlxform" / "core").glob("*.py")
    if path.stem != "__init__"
)

PROBE = """
import importlib, json, sys
heavy = {heavy!r}
out = {{}}
for name in {modules!r}:
    importlib.import_module(name)
    out[name] = sorted(m for m in heavy if m in sys.modules)
import rlxform.core.objective as o, rlxform.core.schemes as s
t = o.transform(s.get("grpo"), 16)
w = t.weight([0.1, 0.5])
out["transform"] = [type(w).__name__, str(w.dtype)]
out["after"] = sorted(m for m in heavy if m in sys.modules)
print(json.dumps(out))
"""


def run_python(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=True, cwd=ROOT
    )


def test_core_and_package_import_no_jax():
    modules = ["rlxform", *CORE, "rlxform.explain", "rlxform.frameworks", "rlxform.cli"]
    assert len(CORE) >= 15
    probe = PROBE.format(heavy=HEAVY, modules=modules)
    out = json.loads(run_python("-c", probe).stdout)
    assert {name: out[name] for name in modules} == {name: [] for name in modules}
    assert out["transform"] == ["ndarray", "float64"]  # NumPy float64, computed without JAX
    assert out["after"] == []


def test_version_and_help_import_no_jax():
    for flag in ("--version", "--help"):
        probe = (
            "import runpy, sys\n"
            f"sys.argv = ['rlxform', {flag!r}]\n"
            "try:\n    runpy.run_module('rlxform', run_name='__main__')\n"
            "except SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
        )
        lines = run_python("-c", probe).stdout.strip().splitlines()
        assert lines[-1] == "[]", (flag, lines)
    assert (
        run_python("-m", "rlxform", "--version").stdout.strip() == f"rlxform {rlxform.__version__}"
    )


BAD_SIMULATE = [
    ["--lr", "nan"],
    ["--group-size", "0"],
    ["--kl-coef", "0.1", "--ppo-epochs", "2"],
    ["--scheme", "rejection_sampling", "--kl-coef", "0.1", "--kl-placement", "reward"],
    ["--entropy-coef", "0.1", "--std-scope", "batch"],
    ["--loss-mode", "verl:vanilla", "--clip-high", "0.3"],
]


def test_bad_simulate_flags_are_refused_before_jax_loads():
    """A config the simulator would refuse is refused by the CLI without importing JAX (all six
    in one process: none of them may load a heavy module)."""
    probe = "import contextlib, io, runpy, sys\nfor flags in " + repr(BAD_SIMULATE) + ":\n"
    probe += (
        "    sys.argv = ['rlxform', 'simulate', '--scheme', 'grpo', *flags]\n"
        "    err = io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stderr(err):\n"
        "            runpy.run_module('rlxform', run_name='__main__')\n"
        "    except SystemExit as exit:\n"
        "        print(exit.code, repr(err.getvalue()))\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    *runs, heavy = run_python("-c", probe).stdout.strip().splitlines()
    assert heavy == "[]"
    assert len(runs) == len(BAD_SIMULATE)
    for flags, line in zip(BAD_SIMULATE, runs, strict=True):
        code, message = line.split(" ", 1)
        assert code == "2" and "is invalid" in message and message.count("\\n") == 1, (flags, line)


def test_lazy_names_are_the_simulator_objects():
    from rlxform.core import sequences
    from rlxform.sim import config, exact, hparams, simulate, sweeps

    assert rlxform.SimConfig is config.SimConfig and rlxform.HParams is hparams.HParams
    assert rlxform.exact is exact and rlxform.simulate is simulate
    assert rlxform.make_sweep is sweeps.make_sweep and rlxform.sequences is sequences
    assert rlxform.UpdateRule is sequences.UpdateRule
    assert set(rlxform.__all__) <= set(dir(rlxform))
    for name in rlxform.__all__:
        assert getattr(rlxform, name) is not None, name
    assert callable(rlxform.explain)  # the function, not the subpackage of the same name

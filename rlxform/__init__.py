"""rlxform: what does an RL-for-LLM algorithm with binary rewards actually optimise?

Every scheme Z_i = f(r_i, S) is, in expectation, gradient ascent on E_x h_M(p_x) with h_M' a
Bernstein polynomial of degree M-1 (Davis & Recht, arXiv 2510.13651). This package computes
h_M exactly (``transform``), designs schemes for a target (``design``), gives their exact noise
(``noise``), and simulates them on bandit policies in JAX.
"""

from rlxform import cli_guard as _cli_guard  # noqa: F401  (first: the command's Ctrl-C guard)

# isort: split
import importlib
from typing import Any

from rlxform import frameworks
from rlxform.core import (
    batch_norm,
    bernstein,
    dynamic,
    entropy,
    kl,
    kl_audit,
    loss_modes,
    ppo,
    schemes,
    sequences,
)
from rlxform.core.entropy import entropy_equilibrium
from rlxform.core.kl import kl_equilibrium
from rlxform.core.noise import NoiseStats, noise
from rlxform.core.objective import Transform, transform
from rlxform.core.ppo import PPOEffectiveWeight, ppo_effective_weight
from rlxform.core.schemes import Scheme, design
from rlxform.core.sequences import (
    SequenceTask,
    UpdateRule,
    enumerate_sequences,
    sequence_weights,
)
from rlxform.explain.cards import ObjectiveCard, explain
from rlxform.explain.parts import Section
from rlxform.frameworks import RunConfig, read_config
from rlxform.validation import InputError
from rlxform.version import __version__

# The simulator's names (JAX, Flax, optax) load on first use (PEP 562): ``import rlxform`` and the
# exact core import no JAX. name -> (module, attribute or None for the module itself).
_LAZY = {
    "policies": ("rlxform.sim.policies", None),
    "simulate": ("rlxform.sim.simulate", None),
    "sweeps": ("rlxform.sim.sweeps", None),
    "exact": ("rlxform.sim.exact", None),
    "HParams": ("rlxform.sim.hparams", "HParams"),
    "Metrics": ("rlxform.sim.config", "Metrics"),
    "Problem": ("rlxform.sim.config", "Problem"),
    "SimConfig": ("rlxform.sim.config", "SimConfig"),
    "make_simulate": ("rlxform.sim.simulate", "make_simulate"),
    "make_sweep": ("rlxform.sim.sweeps", "make_sweep"),
}


def __getattr__(name: str) -> Any:
    """Import a simulator name of ``__all__`` on first access and keep it."""
    if name not in _LAZY:
        raise AttributeError(f"module 'rlxform' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    value = importlib.import_module(module_name)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "HParams",
    "InputError",
    "Metrics",
    "NoiseStats",
    "ObjectiveCard",
    "PPOEffectiveWeight",
    "Problem",
    "RunConfig",
    "Scheme",
    "Section",
    "SequenceTask",
    "SimConfig",
    "Transform",
    "UpdateRule",
    "__version__",
    "batch_norm",
    "bernstein",
    "design",
    "dynamic",
    "entropy",
    "entropy_equilibrium",
    "enumerate_sequences",
    "exact",
    "explain",
    "frameworks",
    "kl",
    "kl_audit",
    "kl_equilibrium",
    "loss_modes",
    "make_simulate",
    "make_sweep",
    "noise",
    "policies",
    "ppo",
    "ppo_effective_weight",
    "read_config",
    "schemes",
    "sequence_weights",
    "sequences",
    "simulate",
    "sweeps",
    "transform",
]

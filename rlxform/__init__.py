"""rlxform: what does an RL-for-LLM algorithm with binary rewards actually optimise?

Every scheme Z_i = f(r_i, S) is, in expectation, gradient ascent on E_x h_M(p_x) with h_M' a
Bernstein polynomial of degree M-1 (Davis & Recht, arXiv 2510.13651). This package computes
h_M exactly (``transform``), designs schemes for a target (``design``), gives their exact noise
(``noise``), and simulates them on bandit policies in JAX.
"""

from rlxform import frameworks
from rlxform.core import batch_norm, bernstein, dynamic, kl, kl_audit, ppo, schemes
from rlxform.core.kl import kl_equilibrium
from rlxform.core.noise import NoiseStats, noise
from rlxform.core.objective import Transform, transform
from rlxform.core.ppo import PPOEffectiveWeight, ppo_effective_weight
from rlxform.core.schemes import Scheme, design
from rlxform.explain.cards import ObjectiveCard, Section, explain
from rlxform.frameworks import RunConfig, read_config
from rlxform.sim import policies, sequences, simulate, sweeps
from rlxform.sim import reference as exact
from rlxform.sim.config import HParams, Metrics, Problem, SimConfig
from rlxform.sim.sequences import (
    SequenceTask,
    enumerate_sequences,
    length_drift,
    sequence_weights,
)
from rlxform.sim.simulate import make_simulate
from rlxform.sim.sweeps import make_sweep
from rlxform.validation import InputError

__version__ = "0.4.1"

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
    "__version__",
    "batch_norm",
    "bernstein",
    "design",
    "dynamic",
    "enumerate_sequences",
    "exact",
    "explain",
    "frameworks",
    "kl",
    "kl_audit",
    "kl_equilibrium",
    "length_drift",
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

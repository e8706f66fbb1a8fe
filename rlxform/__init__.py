"""rlxform: what does an RL-for-LLM algorithm with binary rewards actually optimise?

Every scheme Z_i = f(r_i, S) is, in expectation, gradient ascent on E_x h_M(p_x) with h_M' a
Bernstein polynomial of degree M-1 (Davis & Recht, arXiv 2510.13651). This package computes
h_M exactly (``transform``), designs schemes for a target (``design``), gives their exact noise
(``noise``), and simulates them on bandit policies in JAX.
"""

from rlxform import bernstein, dynamic, exact, policies, schemes, simulate, sweeps
from rlxform.noise import NoiseStats, noise
from rlxform.schemes import Scheme, design
from rlxform.simulate import HParams, Metrics, SimConfig, make_simulate
from rlxform.sweeps import make_sweep
from rlxform.transforms import Transform, transform

__version__ = "0.2.0"

__all__ = [
    "HParams",
    "Metrics",
    "NoiseStats",
    "Scheme",
    "SimConfig",
    "Transform",
    "__version__",
    "bernstein",
    "design",
    "dynamic",
    "exact",
    "make_simulate",
    "make_sweep",
    "noise",
    "policies",
    "schemes",
    "simulate",
    "sweeps",
    "transform",
]

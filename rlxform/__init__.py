"""rlxform: what does an RL-for-LLM algorithm with binary rewards actually optimise?

Every scheme Z_i = f(r_i, S) is, in expectation, gradient ascent on E_x h_M(p_x) with h_M' a
Bernstein polynomial of degree M-1 (Davis & Recht, arXiv 2510.13651). This package computes
h_M exactly (``transform``), designs schemes for a target (``design``), gives their exact noise
(``noise``), and simulates them on bandit policies in JAX.
"""

from rlxform import bernstein, schemes
from rlxform.noise import NoiseStats, noise
from rlxform.schemes import Scheme, design
from rlxform.transforms import Transform, transform

__version__ = "0.1.0"

__all__ = [
    "NoiseStats",
    "Scheme",
    "Transform",
    "__version__",
    "bernstein",
    "design",
    "noise",
    "schemes",
    "transform",
]

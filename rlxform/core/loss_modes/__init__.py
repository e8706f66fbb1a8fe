"""Loss modes of the current trainers reduced to the per-answer factor they optimise (SPEC 8).

With one update per rollout batch every surrogate gives, on the first update, a per-token
gradient -A_i c(L_i) on each token of answer i, with a factor c(L) fixed by its normalisation;
by the aggregation identity c alone fixes the expected update. ``reduce(framework, mode,
**settings)`` reads the one table (``table.py``) and returns a ``LossMode``: ``length_factor``
("1", "1/L", "1/L_max", "token-mean" or a phrase), ``exact_on_policy``, ``off_policy_only`` and
``source``, for the newest release of each trainer (``table.py``) or an older one whose loss code
was read (``releases.py``). ``token_gradient`` restates each framework's newest per-token
gradient at any ratio, against an array namespace (NumPy here, JAX in the simulator); tests
match it to the frameworks' own numbers (tests/data/loss_modes). NumPy only: importing this
package imports no JAX.
"""

from rlxform.core.loss_modes.batch import TokenBatch
from rlxform.core.loss_modes.gradient import kl_term_gradient, token_gradient
from rlxform.core.loss_modes.markdown import markdown_table
from rlxform.core.loss_modes.record import LossMode
from rlxform.core.loss_modes.reduce import reduce
from rlxform.core.loss_modes.table import EXACT_FACTORS, FACTORS, VERSIONS

__all__ = [
    "EXACT_FACTORS",
    "FACTORS",
    "VERSIONS",
    "LossMode",
    "TokenBatch",
    "kl_term_gradient",
    "markdown_table",
    "reduce",
    "token_gradient",
]

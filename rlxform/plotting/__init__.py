"""Figures from result tables: ``fig_*(table) -> matplotlib Figure``; never simulates.

Tables are dicts of equal-length columns (as ``rlxform.results.read_table`` returns). Figures use
the Agg backend-friendly object API (no pyplot state is kept). One module per family of tables:
``analytic`` (exact transforms, figures 1-4 and 7, cards), ``simulation`` (trajectories,
difficulty, sweeps), ``sequences``, ``penalties``, ``loss_modes`` and ``trainers`` (the trainer
comparison); ``style`` holds the shared helpers.
"""

from rlxform.plotting.analytic import (
    fig_grpo,
    fig_limits,
    fig_noise,
    fig_objective,
    fig_rejection_sampling,
    fig_transforms,
    fig_weights,
)
from rlxform.plotting.filters import fig_vllm_mask_length
from rlxform.plotting.loss_modes import fig_loss_modes
from rlxform.plotting.penalties import (
    fig_batch_std,
    fig_kl_equilibrium,
    fig_kl_estimators,
    fig_ppo_effective_weight,
)
from rlxform.plotting.sequences import (
    fig_aggregation_table,
    fig_length_drift_map,
    fig_length_trajectories,
    fig_sequence_simulate,
)
from rlxform.plotting.simulation import fig_difficulty, fig_simulate, fig_sweep, fig_trajectories
from rlxform.plotting.style import math_formula, scheme_label
from rlxform.plotting.trainers import fig_trainer_comparison

__all__ = [
    "fig_aggregation_table",
    "fig_batch_std",
    "fig_difficulty",
    "fig_grpo",
    "fig_kl_equilibrium",
    "fig_kl_estimators",
    "fig_length_drift_map",
    "fig_length_trajectories",
    "fig_limits",
    "fig_loss_modes",
    "fig_noise",
    "fig_objective",
    "fig_ppo_effective_weight",
    "fig_rejection_sampling",
    "fig_sequence_simulate",
    "fig_simulate",
    "fig_sweep",
    "fig_trainer_comparison",
    "fig_trajectories",
    "fig_transforms",
    "fig_vllm_mask_length",
    "fig_weights",
    "math_formula",
    "scheme_label",
]

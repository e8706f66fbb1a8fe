"""Experiments for KL penalties and PPO: the estimator audit, KL equilibria, PPO effective weight.

Each is ``run_*(config, out_dir, progress, figure) -> results.Result`` (``runner.experiment``)
writing ``<name>.csv`` / ``.png`` / ``.json``; all exact float64, no simulation. Each registers
its ``tiny`` / ``quick`` / ``full`` configs with ``@experiment(..., configs=...)``.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from rlxform.core import kl_audit as audit
from rlxform.core import schemes as schemes_lib
from rlxform.core.kl import bernstein_weight_numpy, kl_equilibrium
from rlxform.core.ppo import ppo_effective_weight
from rlxform.core.schemes import Scheme
from rlxform.core.sequences import SequenceTask, num_prefixes
from rlxform.plotting import penalties as plots
from rlxform.reproduce.runner import Columns, experiment
from rlxform.results import Progress, Table, report_progress
from rlxform.types import NDArray
from rlxform.validation import check_float, check_int

_VERL_GRPO = schemes_lib.grpo(std="sample", eps=1e-6)  # verl's GRPO

# ---- KL estimator audit ----------------------------------------------------------------------


def audit_rows(policy: str, logits: NDArray, ref_logits: NDArray, task: SequenceTask) -> list[dict]:
    """One row per (estimator, placement): policy, estimator, placement, cosine, relative_error.

    float64 numpy throughout. Bandit identities (exact, k3 where its clamp does not bind):
    E grad k2(l) = E[l grad log pi] = grad KL(pi||ref); E grad k3(l) = sum_y (pi - ref) grad log
    pi = grad KL(ref||pi); E grad k1(l) = E grad log pi = 0.
    """
    truth = audit.true_kl_gradient(logits, ref_logits, task)
    rows = []
    for estimator in audit.AUDIT_ESTIMATORS:
        for placement in audit.AUDIT_PLACEMENTS:
            g = audit.expected_kl_gradient(estimator, placement, logits, ref_logits, task)
            cosine, relative = audit.compare(g, truth)
            rows.append(
                {
                    "policy": policy,
                    "estimator": estimator,
                    "placement": placement,
                    "cosine": cosine,
                    "relative_error": relative,
                    "follows": audit.FOLLOWS[(policy, estimator, placement)],
                }
            )
    return rows


def kl_estimator_table(
    key: jax.Array,
    *,
    bandit_responses: int = 4,
    num_tokens: int = 3,
    max_length: int = 3,
    num_draws: int = 8,
    logit_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """The estimator audit over ``num_draws`` random (pi, pi_ref) pairs, float64.

    Logits of pi and pi_ref are i.i.d. N(0, logit_scale^2) per node and token (independent),
    drawn by numpy's PCG64 seeded with the key's data (no XLA compile; deterministic per key).
    Returns columns policy, estimator, placement, cosine (mean over draws; NaN where E g = 0),
    relative_error (mean), cosine_min, relative_error_max, follows, num_draws: 16 rows.
    """
    num_draws = check_int("num_draws", num_draws, 1)
    logit_scale = check_float("logit_scale", logit_scale, 0.0, low_open=True)
    tasks = {
        "bandit": SequenceTask(check_int("bandit_responses", bandit_responses, 2), 1),
        "sequence": SequenceTask(check_int("num_tokens", num_tokens, 2), max_length),
    }
    collected: dict[tuple[str, str, str], list[tuple[float, float, str]]] = {}
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
    for policy, task in tasks.items():
        draws = rng.standard_normal((num_draws, 2, num_prefixes(task), task.vocab_size))
        for logits, ref_logits in logit_scale * draws:
            for row in audit_rows(policy, logits, ref_logits, task):
                cell = (row["policy"], row["estimator"], row["placement"])
                collected.setdefault(cell, []).append(
                    (row["cosine"], row["relative_error"], row["follows"])
                )
    cols: dict[str, list] = {
        k: []
        for k in (
            "policy",
            "estimator",
            "placement",
            "cosine",
            "relative_error",
            "cosine_min",
            "relative_error_max",
            "follows",
            "num_draws",
        )
    }
    for (policy, estimator, placement), values in collected.items():
        cosines = np.array([v[0] for v in values])
        errors = np.array([v[1] for v in values])
        cols["policy"].append(policy)
        cols["estimator"].append(estimator)
        cols["placement"].append(placement)
        zero = bool(np.all(np.isnan(cosines)))
        cols["cosine"].append(float("nan") if zero else float(np.nanmean(cosines)))
        cols["cosine_min"].append(float("nan") if zero else float(np.nanmin(cosines)))
        cols["relative_error"].append(float(np.mean(errors)))
        cols["relative_error_max"].append(float(np.max(errors)))
        cols["follows"].append(values[0][2])
        cols["num_draws"].append(num_draws)
    return {k: np.asarray(v) for k, v in cols.items()}


@dataclasses.dataclass(frozen=True)
class KlEstimatorsConfig:
    """Exact E g of k1/k2/k3/abs x loss/reward vs grad KL(pi || pi_ref), by enumeration.

    Attributes:
      bandit_responses: K of the bandit; num_tokens, max_length: V and L of the tree policy.
      num_draws: random (pi, pi_ref) pairs (logits i.i.d. N(0, logit_scale^2)); seed: their key.
    """

    bandit_responses: int = 4
    num_tokens: int = 3
    max_length: int = 3
    num_draws: int = 16
    logit_scale: float = 1.0
    seed: int = 0


@experiment(
    "kl_estimators",
    plots.fig_kl_estimators,
    configs={
        "tiny": KlEstimatorsConfig(num_draws=2),
        "quick": KlEstimatorsConfig(),
        "full": KlEstimatorsConfig(num_draws=128),
    },
    description="exact expected gradient of k1/k2/k3 as loss or reward vs grad KL(pi || pi_ref)",
)
def run_kl_estimators(config: KlEstimatorsConfig, progress: Progress = None) -> Table:
    """``kl_estimators.csv`` (policy, estimator, placement, cosine, relative_error, ...)."""
    table = kl_estimator_table(
        jax.random.key(config.seed),
        bandit_responses=config.bandit_responses,
        num_tokens=config.num_tokens,
        max_length=config.max_length,
        num_draws=config.num_draws,
        logit_scale=config.logit_scale,
    )
    report_progress(progress, 1, 1)
    return table


# ---- KL equilibrium p* against beta ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KlEquilibriumConfig:
    """p* of ascent on h_M - beta KL from p_ref, per scheme, M and beta (reverse and k3-loss)."""

    schemes: tuple[Scheme, ...] = (
        schemes_lib.reinforce(),
        schemes_lib.rejection_sampling(),
        _VERL_GRPO,
    )
    group_sizes: tuple[int, ...] = (4, 8, 16, 64)
    betas: tuple[float, ...] = tuple(np.round(np.logspace(-1, 1, 21), 6).tolist())
    p_ref: float = 0.3


@experiment(
    "kl_equilibrium",
    plots.fig_kl_equilibrium,
    configs={
        "tiny": KlEquilibriumConfig(group_sizes=(4, 16), betas=(0.3, 1.0, 3.0)),
        "quick": KlEquilibriumConfig(),
        "full": KlEquilibriumConfig(
            group_sizes=(2, 4, 8, 16, 64, 256),
            betas=tuple(np.round(np.logspace(-2, 1, 61), 6).tolist()),
        ),
    },
    description="KL equilibrium p* against beta per scheme and M (the group size sets it)",
)
def run_kl_equilibrium(config: KlEquilibriumConfig, progress: Progress = None) -> Table:
    """``kl_equilibrium.csv``: scheme, M, beta, p_ref, divergence, p_star, w_at_p_star."""
    cols = Columns()
    total = len(config.schemes) * len(config.group_sizes)
    done = 0
    for scheme in config.schemes:
        for m in config.group_sizes:
            coefficients = scheme.coefficients(m)
            for beta in config.betas:
                for div, kwargs in (
                    ("reverse", {"placement": "advantage"}),
                    ("forward", {"estimator": "k3", "placement": "loss"}),
                ):
                    p_star = kl_equilibrium(scheme, m, beta, config.p_ref, **kwargs)
                    cols.add(
                        scheme=scheme.label,
                        M=m,
                        beta=float(beta),
                        p_ref=config.p_ref,
                        divergence=div,
                        p_star=p_star,
                        w_at_p_star=float(bernstein_weight_numpy(coefficients, p_star)),
                    )
            done += 1
            report_progress(progress, done, total)
    return cols.table()


# ---- PPO effective weight ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PpoConfig:
    """w_eff(p) of one PPO iteration (scalar logit) over epochs x minibatches x clip ranges.

    Attributes:
      clips: (clip_low, clip_high) pairs; clip_high >= 1e6 means no clip.
    """

    scheme: Scheme = _VERL_GRPO
    group_size: int = 8
    learning_rates: tuple[float, ...] = (0.2,)
    epochs: tuple[int, ...] = (1, 4)
    num_minibatches: tuple[int, ...] = (1, 4)
    clips: tuple[tuple[float, float], ...] = ((0.2, 0.2), (0.2, 0.28), (1.0, 1e9))
    num_grid: int = 25
    p_min: float = 0.02


@experiment(
    "ppo_effective_weight",
    plots.fig_ppo_effective_weight,
    configs={
        "tiny": PpoConfig(epochs=(1, 4), num_minibatches=(1,), num_grid=5),
        "quick": PpoConfig(),
        "full": PpoConfig(learning_rates=(0.05, 0.2, 0.5), epochs=(1, 2, 4), num_grid=49),
    },
    description="effective weight of a PPO rollout iteration vs w_M, over epochs x clip ranges",
)
def run_ppo_effective_weight(config: PpoConfig, progress: Progress = None) -> Table:
    """``ppo_effective_weight.csv``: one row per (lr, E, N, clip, p) with w_eff and w_M."""
    scheme = config.scheme
    coefficients = scheme.coefficients(config.group_size)
    ps = np.linspace(config.p_min, 1.0 - config.p_min, config.num_grid)
    grid = [
        (lr, e, n, lo, hi)
        for lr in config.learning_rates
        for e in config.epochs
        for n in config.num_minibatches
        for lo, hi in config.clips
    ]
    cols = Columns()
    for i, (lr, e, n, lo, hi) in enumerate(grid):
        for p in ps:
            out = ppo_effective_weight(
                scheme,
                config.group_size,
                float(p),
                learning_rate=lr,
                epochs=e,
                num_minibatches=n,
                clip_low=lo,
                clip_high=hi,
            )
            cols.add(
                scheme=scheme.label,
                M=config.group_size,
                learning_rate=lr,
                epochs=e,
                num_minibatches=n,
                clip_low=lo,
                clip_high=hi,
                p=float(p),
                weight=out.weight,
                w_m=float(bernstein_weight_numpy(coefficients, p)),
                clip_fraction=out.clip_fraction,
                delta_p=out.delta_p,
            )
        report_progress(progress, i + 1, len(grid))
    return cols.table()


# ---- batch-level std: finite batch vs the large-batch form -------------------------------------


@dataclasses.dataclass(frozen=True)
class BatchStdConfig:
    """w^batch(p) of one prompt with batch-level std over G groups, against its large-batch form.

    Scenarios: ``homogeneous`` (every group has the prompt's p) and ``mixed`` (the other G-1
    groups cycle through ``population``); the limit uses the batch's mean p.
    """

    group_size: int = 4
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    p_values: tuple[float, ...] = (0.05, 0.1, 0.3, 0.5, 0.7, 0.9)
    population: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    eps: float = 1e-4
    std: str = "sample"


@experiment(
    "batch_std",
    plots.fig_batch_std,
    configs={
        "tiny": BatchStdConfig(batch_sizes=(1, 4, 16), p_values=(0.1, 0.5)),
        "quick": BatchStdConfig(),
        "full": BatchStdConfig(batch_sizes=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)),
    },
    description="batch-level std (TRL scale_rewards=batch): finite batch vs its large-batch limit",
)
def run_batch_std(config: BatchStdConfig, progress: Progress = None) -> Table:
    """``batch_std.csv``: scenario, G, p, weight, limit_weight, relative_deviation,
    group_std_weight (GRPO with the same std and eps: per-group normalisation)."""
    from rlxform.core.batch_norm import batch_std_limit_weight, batch_std_weight

    m = config.group_size
    group_coefficients = schemes_lib.grpo(std=config.std, eps=config.eps).coefficients(m)
    cols = Columns()
    for i, g in enumerate(config.batch_sizes):
        for p in config.p_values:
            for scenario in ("homogeneous", "mixed"):
                if scenario == "homogeneous":
                    others = [p] * (g - 1)
                else:
                    others = [config.population[j % len(config.population)] for j in range(g - 1)]
                w = batch_std_weight(m, p, others, std=config.std, eps=config.eps)
                limit = batch_std_limit_weight(m, float(np.mean([p, *others])), eps=config.eps)
                cols.add(
                    scenario=scenario,
                    G=g,
                    p=p,
                    weight=w,
                    limit_weight=limit,
                    relative_deviation=w / limit - 1.0,
                    group_std_weight=float(bernstein_weight_numpy(group_coefficients, p)),
                )
        report_progress(progress, i + 1, len(config.batch_sizes))
    return cols.table()

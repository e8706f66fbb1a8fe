"""One simulator run against its exact reference, written to disk (``rlxform simulate``).

``run_simulation`` serves bandit and sequence policies alike: S seeds of ``make_simulate`` at
one learning rate (one compile), the exact reference (``reference.make_exact``), the seed-mean
comparison (``sweeps.compare``), then ``trajectories.csv`` (step, mean_p, mean_p_se,
exact_mean_p, objective, exact_objective; sequences add mean_length_correct / _wrong, their
_se and exact_ columns), ``summary.json`` and the figure. The CLI only parses flags into a
``SimConfig`` and calls it; keys are made from the integer seed here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from rlxform.sim.config import SimConfig

LENGTH_RECORDS = ("mean_length_correct", "mean_length_wrong")


class SimulationResult(NamedTuple):
    """What ``run_simulation`` wrote: the table (columns), the summary and the figure's path."""

    table: dict[str, np.ndarray]
    summary: dict[str, Any]
    figure_path: Path | None


def simulation_title(cfg: SimConfig, learning_rate: float, seeds: int) -> str:
    """Figure title: scheme, policy, P, M, batch, optimizer, lr, seeds (and the aggregation)."""
    if cfg.problem.is_sequence:
        return f"{cfg.scheme.label}, {cfg.aggregation}, {cfg.problem.policy}, M={cfg.group_size}"
    problem = cfg.problem
    batch = "" if cfg.batch == problem.num_prompts else f", $B={cfg.batch}$"
    return (
        f"{cfg.scheme.label}\n{problem.policy}, $P={problem.num_prompts}$, "
        f"$M={cfg.group_size}${batch}, "
        f"{cfg.optimizer} lr={learning_rate:g}, {seeds} seeds"
        + (", dynamic sampling" if cfg.dynamic_sampling else "")
    )


def simulation_figure(table: Mapping[str, np.ndarray], cfg: SimConfig, lr: float, seeds: int):
    """The trajectories figure of a run (``plotting.fig_simulate`` or the sequence figure)."""
    title = simulation_title(cfg, lr, seeds)
    if cfg.problem.is_sequence:
        from rlxform.plotting.sequences import fig_sequence_simulate

        return fig_sequence_simulate(table, title)
    from rlxform.plotting import fig_simulate

    reference = (
        "exact: iterated dynamic-sampling mean step"
        if cfg.dynamic_sampling
        else "exact ascent on $J_{h_M}$"
    )
    return fig_simulate(table, title, reference)


def simulate_and_compare(
    cfg: SimConfig,
    learning_rate: float,
    seeds: int,
    seed: int,
    clip: Mapping[str, Any] = {},
    kl_coef: float | None = None,
):
    """(table, summary numbers, metrics) of S seeds against exact ascent at one learning rate.

    ``clip``: PPO's ``clip_low``, ``clip_high``, ``dual_clip`` (``HParams`` fields; None =
    default). ``kl_coef``: beta of the KL penalty (None = no KL term). Configs without an exact
    reference (PPO with E N > 1, ``std_scope="batch"``) get NaN exact columns and the reason in
    ``summary["reference"]``; PPO runs add the ``clip_fraction`` column (seed mean).
    """
    from rlxform import runtime
    from rlxform.sim import sweeps
    from rlxform.sim.reference import check_exact
    from rlxform.validation import InputError

    grid = sweeps.grid([learning_rate], kl_coef=kl_coef)
    grid = grid._replace(**{k: np.full(1, v, np.float32) for k, v in clip.items() if v is not None})
    keys = jax.random.split(jax.random.key(seed), seeds)
    start = time.perf_counter()
    notice = (
        "the simulator"
        if cfg.problem.is_sequence
        else f"the simulator ({cfg.resolved_sampler} sampler)"
    )
    with runtime.compile_notice(notice):
        compiled = sweeps.make_sweep(cfg).lower(grid, keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = jax.block_until_ready(compiled(grid, keys))
    wall_s = time.perf_counter() - start
    try:
        check_exact(cfg)
        reference = "dynamic-sampling mean step" if cfg.dynamic_sampling else "exact ascent"
    except InputError as err:
        reference = f"none: {err}"
        nan = lambda x: np.full(np.shape(x)[:1] + np.shape(x)[2:], np.nan)
        exact = jax.tree_util.tree_map(nan, metrics)
    else:
        exact = sweeps.make_exact_sweep(cfg)(grid)
    cmp = sweeps.compare(metrics, exact)
    table = {
        "step": np.asarray(metrics.step[0, 0]),
        "mean_p": cmp.mean_p[0],
        "mean_p_se": cmp.mean_p_se[0],
        "exact_mean_p": cmp.exact_mean_p[0],
        "objective": sweeps.seed_stats(metrics.objective)[0][0],
        "exact_objective": np.asarray(exact.objective[0], np.float64),
    }
    if cfg.problem.is_sequence:
        for name in LENGTH_RECORDS:
            mean, se = sweeps.seed_stats(getattr(metrics, name))
            table[name], table[f"{name}_se"] = mean[0], se[0]
            table[f"exact_{name}"] = np.asarray(getattr(exact, name)[0], np.float64)
    if hasattr(metrics, "clip_fraction"):
        table["clip_fraction"] = sweeps.seed_stats(metrics.clip_fraction)[0][0]
    numbers = {
        "max_abs_dev": float(cmp.max_abs_dev[0]),
        "max_z": float(cmp.max_z[0]),
        "agreement": float(cmp.agreement[0]),
        "reference": reference,
        "diverged": bool(np.any(np.asarray(metrics.nonfinite_step) >= 0)),
        "wall_time_s": wall_s,
        "compile_time_s": compile_s,
        "device": str(jax.devices()[0]),
    }
    return table, numbers, metrics


def run_simulation(
    cfg: SimConfig,
    learning_rate: float,
    seeds: int,
    seed: int,
    out: Path,
    *,
    config: Mapping[str, Any] | None = None,
    clip: Mapping[str, Any] = {},
    save_figure: Callable[[Any, Path], None] | None = None,
    figure_suffix: str = "png",
    kl_coef: float | None = None,
) -> SimulationResult:
    """Simulate ``seeds`` runs of ``cfg`` at ``learning_rate``, compare with the exact reference
    and write ``out/trajectories.csv``, ``out/summary.json`` and (with ``save_figure``) the
    figure ``out/trajectories.<figure_suffix>``.

    Args:
      cfg: the run; learning_rate: float > 0; seeds: S; seed: the base seed (keys
        ``split(key(seed), S)``); out: a writable directory.
      config: extra entries for ``summary["config"]`` (the CLI's flags).
      clip: PPO clip hyperparameters (``simulate_and_compare``).
      save_figure: ``(figure, path) -> None``; None writes no figure.
      kl_coef: beta of the KL penalty (``cfg.kl_estimator`` at ``cfg.kl_placement``; None: off).
    """
    from rlxform import runtime
    from rlxform.results import atomic_write_text, write_table

    table, numbers, _ = simulate_and_compare(cfg, learning_rate, seeds, seed, clip, kl_coef)
    out = Path(out)
    write_table(out / "trajectories.csv", table)
    described = {
        **dict(config or {}),
        "scheme": cfg.scheme.label,
        "batch_size": cfg.batch,
        "prng": runtime.current_prng(),
        "ppo_epochs": cfg.ppo_epochs,
        "num_minibatches": cfg.num_minibatches,
        "std_scope": cfg.std_scope,
    }
    if cfg.problem.is_sequence:
        described["aggregation"] = cfg.aggregation
        described["objective"] = "mean_x h_M(p_x) of the scheme's tables (the paper's lens)"
    else:
        described["sampler"] = cfg.resolved_sampler
    summary = {"config": described, **numbers}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    figure_path = None
    if save_figure is not None:
        figure_path = out / f"trajectories.{figure_suffix}"
        save_figure(simulation_figure(table, cfg, learning_rate, seeds), figure_path)
    return SimulationResult(table, summary, figure_path)

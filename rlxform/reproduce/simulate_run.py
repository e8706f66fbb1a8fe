"""One simulator run against its exact reference, written to disk (``rlxform simulate``).

``SimulateConfig`` is what runs: S seeds of a ``SimConfig`` at one point of traced ``HParams``
(validated once, here and in the nested configs). ``run_simulation`` serves bandit and sequence
policies alike: the S seeds vmapped (``sweeps.make_sweep``, one compile), the exact reference
(``sweeps.make_exact_sweep``), the seed-mean comparison (``sweeps.compare``), then
``trajectories.csv`` (step, mean_p, mean_p_se, exact_mean_p, objective, exact_objective;
sequences add mean_length_correct / _wrong, their _se and exact_ columns), ``summary.json`` and
the figure. The CLI maps its flags onto ``SimulateConfig`` (``cli_flags.FLAGS``); keys are
made from the integer seed here.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rlxform.sim.combinations import check_combination
from rlxform.sim.config import SimConfig
from rlxform.sim.hparams import HParams, check_hparams
from rlxform.validation import InputError, check_int, check_seed

LENGTH_RECORDS = ("mean_length_correct", "mean_length_wrong")


@dataclasses.dataclass(frozen=True)
class SimulateConfig:
    """S seeds of one simulator config at one point of its traced hyperparameters.

    Attributes:
      sim: the run (``SimConfig`` with its ``Problem``).
      hparams: one value per traced hyperparameter (learning rate, kl_coef, clip range).
      seeds: S runs, keys ``split(key(seed), S)``; seed: the base seed.
    """

    sim: SimConfig
    hparams: HParams
    seeds: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.sim, SimConfig):
            raise InputError(f"sim={self.sim!r} is invalid: must be an rlxform SimConfig")
        if not isinstance(self.hparams, HParams):
            raise InputError(f"hparams={self.hparams!r} is invalid: must be an rlxform HParams")
        for name, value in self.hparams._asdict().items():
            if value is not None and np.ndim(value) != 0:
                raise InputError(f"{name}={value!r} is invalid: must be one number")
        check_hparams(self.hparams)
        check_int("seeds", self.seeds, 1)
        check_seed("seed", self.seed)
        check_combination(self.sim, self.hparams)


class SimulationResult(NamedTuple):
    """What ``run_simulation`` wrote: the table (columns), the summary and the figure's path."""

    table: dict[str, np.ndarray]
    summary: dict[str, Any]
    figure_path: Path | None


def simulation_title(cfg: SimConfig, learning_rate: float, seeds: int) -> str:
    """Figure title: scheme, policy, P, M, batch, optimizer, lr, seeds (and the aggregation)."""
    if cfg.loss_mode is not None:  # a trainer's loss (``SimConfig.loss_mode``)
        return f"{cfg.scheme.label}, {cfg.loss_mode}, {cfg.problem.policy}, M={cfg.group_size}"
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


def simulate_and_compare(config: SimulateConfig):
    """(table, summary numbers, metrics) of S seeds against exact ascent at one ``HParams``.

    Configs without an exact reference (PPO with E N > 1, ``std_scope="batch"``) get NaN exact
    columns and the reason in ``summary["reference"]``; PPO runs add the ``clip_fraction``
    column (seed mean).
    """
    import jax  # here, not at import: the CLI checks a config without JAX

    from rlxform import runtime
    from rlxform.sim import sweeps
    from rlxform.sim.exact import check_exact

    cfg = config.sim
    grid = sweeps.broadcast(config.hparams)  # every value float32[1]
    keys = jax.random.split(jax.random.key(config.seed), config.seeds)
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
        "devices": runtime.run_binding()["devices"],
    }
    return table, numbers, metrics


def run_simulation(
    config: SimulateConfig,
    out: Path,
    *,
    described: Mapping[str, Any] | None = None,
    save_figure: Callable[[Any, Path], None] | None = None,
    figure_suffix: str = "png",
) -> SimulationResult:
    """Simulate ``config.seeds`` runs, compare with the exact reference and write
    ``out/trajectories.csv``, ``out/summary.json`` and (with ``save_figure``) the figure
    ``out/trajectories.<figure_suffix>``.

    Args:
      config: the run; out: a writable directory.
      described: extra entries for ``summary["config"]`` (the CLI's flags).
      save_figure: ``(figure, path) -> None``; None writes no figure.
    """
    from rlxform import runtime
    from rlxform.frameworks.schemes import custom_code
    from rlxform.results import atomic_write_text, write_table

    cfg = config.sim
    table, numbers, _ = simulate_and_compare(config)
    out = Path(out)
    # summary.json (the config) goes first and is written last: a run killed in between leaves
    # no summary of an earlier config next to this run's table or figure
    (out / "summary.json").unlink(missing_ok=True)
    write_table(out / "trajectories.csv", table)
    entries = {
        **dict(described or {}),
        "scheme": cfg.scheme.label,
        "batch_size": cfg.batch,
        "prng": runtime.current_prng(),
        "custom_code": custom_code([cfg.scheme]),
        "ppo_epochs": cfg.ppo_epochs,
        "num_minibatches": cfg.num_minibatches,
        "std_scope": cfg.std_scope,
    }
    if cfg.loss_mode is not None:
        entries.update(loss_mode=cfg.loss_mode, loss_settings=dict(cfg.loss_settings))
        entries["aggregation"] = cfg.aggregation
    if cfg.problem.is_sequence:
        entries["aggregation"] = cfg.aggregation
        entries["objective"] = "mean_x h_M(p_x) of the scheme's tables (the paper's lens)"
    else:
        entries["sampler"] = cfg.resolved_sampler
    summary = {"config": entries, **numbers}
    figure_path = None
    if save_figure is not None:
        figure_path = out / f"trajectories.{figure_suffix}"
        lr = float(config.hparams.learning_rate)
        save_figure(simulation_figure(table, cfg, lr, config.seeds), figure_path)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    return SimulationResult(table, summary, figure_path)

"""vmap over hyperparameters x seeds with one compilation, and agreement with exact ascent.

``make_sweep(cfg, devices=None)`` returns ``fn(hparams [H], keys [S]) -> Metrics [H, S, ...]``:
the simulator vmapped over seeds (inner) and hyperparameters (outer), every hyperparameter on the
same keys. Given ``devices``, the grid is flattened to G = H * S runs (run ``h * S + s`` uses
hparams[h] and keys[s]), padded to a multiple of the device count and sharded over a 1-D
``Mesh`` with ``NamedSharding``; each run is computed wholly on one device (no collectives), so
results do not depend on the devices beyond float32 rounding. ``compare`` reduces the seed
axis to mean and standard error of mean p and measures them against the exact-ascent trajectory:
``max_abs_dev`` = max over records of |seed-mean mean_p - exact mean_p|, ``max_z`` = max over
records of that gap in standard errors (SE floored at ``ROUNDING_FLOOR / 3``) and ``agreement`` =
fraction of records with gap <= max(3 SE, ``ROUNDING_FLOOR``): the absolute floor keeps a
noise-free run (one seed, or every seed alike) from failing on float32 rounding alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as PS

from rlxform.resources import check_run
from rlxform.sim import exact
from rlxform.sim.config import Metrics, SimConfig
from rlxform.sim.hparams import HParams, checked_hparams
from rlxform.sim.simulate import build_simulate
from rlxform.types import ArrayLike, NDArray, PRNGKey, PyTree
from rlxform.validation import InputError

AGREEMENT_SE = 3.0
# float32 simulator vs exact ascent: rounding of ~1e-7 per step accumulates over T steps; 1e-5
# (84 float32 ulps at 1) covers T up to ~1e4 steps and is far below any bias worth reporting.
ROUNDING_FLOOR = 1e-5


class Comparison(NamedTuple):
    """Seed statistics of mean p against exact ascent (host numpy, float64).

    Attributes:
      mean_p: float64[..., R] seed mean of mean_p.
      mean_p_se: float64[..., R] its standard error (sample std / sqrt(S); 0 when S = 1).
      exact_mean_p: float64[..., R] exact-ascent mean p.
      max_abs_dev: float64[...] max over records of |mean_p - exact_mean_p|.
      agreement: float64[...] fraction of records with |dev| <= max(3 SE, floor).
      max_z: float64[...] max over records of |dev| / max(SE, floor / 3) (agreement at a record
        is z <= 3).
    """

    mean_p: NDArray
    mean_p_se: NDArray
    exact_mean_p: NDArray
    max_abs_dev: NDArray
    agreement: NDArray
    max_z: NDArray


def _check_devices(devices: Any) -> list[Any]:
    """``devices`` as a non-empty list of JAX devices (InputError naming the value otherwise)."""
    try:
        items = None if isinstance(devices, (str, bytes)) else list(devices)
    except TypeError:
        items = None
    if not items or not all(isinstance(d, jax.Device) for d in items):
        raise InputError(
            f"devices={devices!r} is invalid: must be None or a non-empty list of JAX devices "
            "(e.g. jax.local_devices())"
        )
    return items


def make_sweep(
    cfg: SimConfig, devices: Sequence[Any] | None = None, *, params0: PyTree | None = None
):
    """Jitted ``(hparams, keys) -> Metrics`` over a grid of H hyperparameters and S seeds.

    Args:
      cfg: static configuration (one compile for all grids of the same H, S).
      devices: None (one device: nested vmap) or the devices of a 1-D mesh the flat grid is
        sharded over (``jax.local_devices()`` for all; one compile per padded G).
      params0: shared initial params (default ``ascent.initial_params(cfg)``).
    Returns:
      fn(hparams: HParams with leaves float[H], keys: key[S]) -> Metrics with leading [H, S];
      ``fn.runs(hparams [G], keys [G]) -> Metrics [G, ...]`` computes a flat list of runs
      (``flatten_grid``; a chunk of the grid) with the same program. Each call first checks
      that its H x S (or G) runs fit the memory budget (``resources.check_run``, InputError).
    """
    if devices is not None:
        devices = _check_devices(devices)
    simulate = build_simulate(cfg, params0)
    count = 1 if devices is None else len(devices)

    def guard_grid(hparams: HParams, keys: PRNGKey) -> None:  # H x S runs at once
        runs = int(np.shape(hparams.learning_rate)[0]) * int(keys.shape[0])
        check_run(cfg, runs, what="make_sweep", devices=count)

    def guard_runs(hparams: HParams, keys: PRNGKey) -> None:
        check_run(cfg, int(keys.shape[0]), what="make_sweep(...).runs", devices=count)

    if devices is None:
        over_seeds = jax.vmap(simulate, in_axes=(None, 0))
        sweep = checked_hparams(jax.jit(jax.vmap(over_seeds, in_axes=(0, None))), guard_grid)
        sweep.runs = checked_hparams(jax.jit(jax.vmap(simulate)), guard_runs)
        return sweep
    devices = list(devices)
    sharding = NamedSharding(Mesh(np.array(devices), ("grid",)), PS("grid"))
    batched = jax.jit(jax.vmap(simulate), in_shardings=sharding, out_shardings=sharding)

    def runs(hparams: HParams, keys: PRNGKey) -> Metrics:
        size = int(keys.shape[0])
        padded = -(-size // len(devices)) * len(devices)
        hp, ks = jax.device_put(_pad((hparams, keys), padded), sharding)
        return jax.tree_util.tree_map(lambda x: x[:size], batched(hp, ks))

    def sweep(hparams: HParams, keys: PRNGKey) -> Metrics:
        num_h = int(np.shape(hparams.learning_rate)[0])
        return unflatten(runs(*flatten_grid(hparams, keys)), num_h, int(keys.shape[0]))

    sweep = checked_hparams(sweep, guard_grid)
    sweep.runs = checked_hparams(runs, guard_runs)
    return sweep


def flatten_grid(hparams: HParams, keys: PRNGKey) -> tuple[HParams, PRNGKey]:
    """The H x S grid as G = H * S runs: ``(HParams [H], key[S]) -> (HParams [G], key[G])``."""
    num_h = int(np.shape(hparams.learning_rate)[0])
    num_s = int(keys.shape[0])
    flat_hp = jax.tree_util.tree_map(lambda x: jnp.repeat(jnp.asarray(x), num_s, axis=0), hparams)
    return flat_hp, keys[jnp.tile(jnp.arange(num_s), num_h)]


def unflatten(metrics: Any, num_h: int, num_s: int) -> Any:
    """``[G, ...] -> [H, S, ...]`` for every leaf."""
    return jax.tree_util.tree_map(lambda x: x.reshape(num_h, num_s, *x.shape[1:]), metrics)


def _pad(tree: PyTree, size: int) -> PyTree:
    """Pad the leading axis to ``size`` by repeating the last element."""

    def pad(x):
        missing = size - x.shape[0]
        return x if missing == 0 else jnp.concatenate([x, jnp.repeat(x[-1:], missing, axis=0)])

    return jax.tree_util.tree_map(pad, tree)


def make_exact_sweep(cfg: SimConfig, params0: PyTree | None = None):
    """Jitted exact ascent over a hyperparameter grid: ``hparams [H] -> Metrics [H, ...]``
    (guarded: ``resources.check_run`` of H exact points)."""

    def guard(hparams: HParams) -> None:
        points = int(np.shape(hparams.learning_rate)[0]) if np.ndim(hparams.learning_rate) else 1
        check_run(cfg, 0, exact=points, what="make_exact_sweep")

    return checked_hparams(jax.jit(jax.vmap(exact.build_exact(cfg, params0))), guard)


def seed_stats(values: ArrayLike, axis: int = -2) -> tuple[NDArray, NDArray]:
    """Mean and standard error over the seed axis: ``float[..., S, R] -> (float64[..., R]) x 2``."""
    values = np.asarray(values, np.float64)
    num_seeds = values.shape[axis]
    mean = values.mean(axis=axis)
    if num_seeds < 2:
        return mean, np.zeros_like(mean)
    return mean, values.std(axis=axis, ddof=1) / np.sqrt(num_seeds)


def compare(
    metrics: Metrics,
    exact_metrics: Metrics,
    seed_axis: int = -2,
    floor: float = ROUNDING_FLOOR,
) -> Comparison:
    """Seed-mean mean_p vs exact ascent: ``max_abs_dev``, ``max_z`` and ``agreement``.

    z = |mean - exact| / max(SE, floor / 3) per record; a record agrees when z <= 3, i.e. the
    gap is within 3 standard errors or within the absolute float32 floor.

    Args:
      metrics: simulator metrics whose ``mean_p`` is ``[..., S, R]``.
      exact_metrics: exact metrics whose ``mean_p`` is ``[..., R]`` (broadcast over the rest).
      seed_axis: the seed axis of ``metrics.mean_p``.
      floor: absolute tolerance for float32 rounding (default ``ROUNDING_FLOOR``), >= 0.
    """
    if not (np.isfinite(floor) and floor >= 0):
        raise InputError(f"floor={floor!r} is invalid: must be a finite number >= 0")
    mean, se = seed_stats(metrics.mean_p, seed_axis)
    target = np.broadcast_to(np.asarray(exact_metrics.mean_p, np.float64), mean.shape)
    dev = np.abs(mean - target)
    scale = np.maximum(se, floor / AGREEMENT_SE)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(dev == 0, 0.0, dev / scale)  # floor = 0 and SE = 0: inf unless equal
    within = z <= AGREEMENT_SE
    return Comparison(mean, se, target, dev.max(axis=-1), within.mean(axis=-1), z.max(axis=-1))


def grid(
    learning_rate: ArrayLike, eps: ArrayLike | None = None, kl_coef: float | None = None
) -> HParams:
    """HParams for a sweep: the outer product of learning rates and eps values (flattened to H).

    Returns HParams with float32[H] leaves, H = len(lr) * len(eps), lr varying slowest;
    ``kl_coef`` (a scalar beta, None = no KL term) is repeated over the H points.
    """
    lr = np.atleast_1d(np.asarray(learning_rate, np.float32))
    if eps is None:
        hparams = HParams(lr, None)
    else:
        eps = np.atleast_1d(np.asarray(eps, np.float32))
        lr_grid, eps_grid = np.meshgrid(lr, eps, indexing="ij")
        hparams = HParams(lr_grid.reshape(-1), eps_grid.reshape(-1))
    return hparams if kl_coef is None else broadcast(hparams._replace(kl_coef=kl_coef))


def broadcast(hparams: HParams) -> HParams:
    """``HParams`` whose learning rate is a scalar or a list of H values as a grid of H points:
    every leaf float32[H], the other values (scalars) repeated, None kept."""
    lr = np.atleast_1d(np.asarray(hparams.learning_rate, np.float32))
    if lr.ndim != 1:
        raise InputError(f"learning_rate={hparams.learning_rate!r} is invalid: must be 1-D")
    return HParams(
        lr,
        *(
            None if v is None else np.broadcast_to(np.asarray(v, np.float32), lr.shape).copy()
            for v in hparams[1:]
        ),
    )

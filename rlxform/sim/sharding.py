"""Sweeps spread over devices and hosts, in chunks streamed to disk.

The (hyperparameter, seed) grid is flattened to G = H * S runs (hyperparameter slowest; run
``h * S + s`` uses hparams[h] and keys[s], so every hyperparameter sees the same seeds, as in
``sweeps.make_sweep``). ``make_sharded_sweep`` vmaps the simulator over that flat axis and shards
it over a 1-D ``Mesh`` of the local devices with ``NamedSharding(mesh, P("grid"))``, padding G to
a multiple of the device count (the padding repeats the last run and is dropped). Each run is
computed wholly on one device (no collectives), so results do not depend on the device count
beyond float32 rounding (XLA may vectorise a different per-device batch differently).
``run_chunked`` cuts the flat grid into chunks, saves each chunk's metrics through
``chunks.ChunkStore`` (a rerun skips finished chunks) and, with several processes
(``initialize_distributed``), process i computes chunks i, i + n, i + 2n, ...
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as PS

from rlxform.results import to_jsonable
from rlxform.results.chunks import ChunkStore, run_chunks
from rlxform.sim.config import HParams, Metrics, Problem, SimConfig
from rlxform.sim.simulate import build_simulate
from rlxform.types import PRNGKey, PyTree

AXIS = "grid"


def flatten_grid(hparams: HParams, keys: PRNGKey) -> tuple[HParams, PRNGKey]:
    """The H x S grid as G = H * S runs: ``(HParams [H], key[S]) -> (HParams [G], key[G])``."""
    num_h = int(np.shape(hparams.learning_rate)[0])
    num_s = int(keys.shape[0])
    flat_hp = jax.tree_util.tree_map(lambda x: jnp.repeat(jnp.asarray(x), num_s, axis=0), hparams)
    flat_keys = keys[jnp.tile(jnp.arange(num_s), num_h)]
    return flat_hp, flat_keys


def unflatten(metrics: Any, num_h: int, num_s: int) -> Any:
    """``[G, ...] -> [H, S, ...]`` for every leaf."""
    return jax.tree_util.tree_map(lambda x: x.reshape(num_h, num_s, *x.shape[1:]), metrics)


def _pad(tree: PyTree, size: int) -> PyTree:
    """Pad the leading axis to ``size`` by repeating the last element."""

    def pad(x):
        missing = size - x.shape[0]
        if missing == 0:
            return x
        return jnp.concatenate([x, jnp.repeat(x[-1:], missing, axis=0)])

    return jax.tree_util.tree_map(pad, tree)


def make_sharded_sweep(
    cfg: SimConfig, params0: PyTree | None = None, devices: Sequence[Any] | None = None
) -> Callable[[HParams, PRNGKey], Metrics]:
    """``fn(hparams [G], keys [G]) -> Metrics [G, ...]`` sharded over ``devices``.

    Args:
      cfg: static simulator config.
      params0: shared initial params (default ``simulate.initial_params(cfg)``).
      devices: devices of the 1-D mesh (default ``jax.local_devices()``).
    Returns:
      a function of a flat grid (``flatten_grid``); G need not divide the device count.
      One compile per padded G.
    """
    devices = list(jax.local_devices() if devices is None else devices)
    mesh = Mesh(np.array(devices), (AXIS,))
    sharding = NamedSharding(mesh, PS(AXIS))
    batched = jax.jit(
        jax.vmap(build_simulate(cfg, params0)),
        in_shardings=(sharding, sharding),
        out_shardings=sharding,
    )

    def run(hparams: HParams, keys: PRNGKey) -> Metrics:
        size = int(keys.shape[0])
        padded = -(-size // len(devices)) * len(devices)
        hp, ks = _pad((hparams, keys), padded)
        hp, ks = jax.device_put((hp, ks), sharding)
        out = batched(hp, ks)
        return jax.tree_util.tree_map(lambda x: x[:size], out)

    run.mesh = mesh  # type: ignore[attr-defined]
    return run


def sharded_sweep(
    cfg: SimConfig, hparams: HParams, keys: PRNGKey, devices: Sequence[Any] | None = None
) -> Metrics:
    """The H x S sweep of ``sweeps.make_sweep`` computed sharded: Metrics ``[H, S, ...]``."""
    flat_hp, flat_keys = flatten_grid(hparams, keys)
    metrics = make_sharded_sweep(cfg, devices=devices)(flat_hp, flat_keys)
    return unflatten(metrics, int(np.shape(hparams.learning_rate)[0]), int(keys.shape[0]))


def chunk_id(index: int) -> str:
    return f"chunk{index:06d}"


def run_chunked(
    cfg: SimConfig,
    hparams: HParams,
    keys: PRNGKey,
    directory: str | os.PathLike,
    chunk_size: int,
    devices: Sequence[Any] | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> Metrics | None:
    """The H x S sweep in chunks of ``chunk_size`` flat runs, each saved to a ``ChunkStore``.

    Finished chunks (from an earlier, interrupted run) are skipped. With several processes,
    process i computes chunks i, i + n, ...; the full result is returned once every chunk is on
    disk (on a shared filesystem, by the last process to finish), else None. Each chunk has
    one writer (its process); a store is not shared between concurrent sweeps.

    Args:
      cfg: static simulator config.
      hparams: HParams with leaves float[H]. keys: key[S] (the same seeds for every h).
      directory: the chunk store (its manifest pins cfg, hparams, key data and chunk_size).
      chunk_size: runs per chunk (rounded up to a multiple of the local device count).
      devices: local devices to shard each chunk over (default all local devices).
      process_index, process_count: this process's share (default ``jax.process_index()`` /
        ``jax.process_count()``).
      on_chunk: called with the index of each chunk this call computes (not the skipped ones).
    Returns:
      Metrics ``[H, S, ...]`` (host numpy) or None while other processes' chunks are missing.
    """
    devices = list(jax.local_devices() if devices is None else devices)
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    chunk_size = -(-int(chunk_size) // len(devices)) * len(devices)
    num_h, num_s = int(np.shape(hparams.learning_rate)[0]), int(keys.shape[0])
    total = num_h * num_s
    num_chunks = -(-total // chunk_size)
    ids = [chunk_id(i) for i in range(num_chunks)]
    store = ChunkStore(
        directory,
        {
            "cfg": cfg,
            "hparams": to_jsonable(jax.tree_util.tree_map(np.asarray, hparams._asdict())),
            "key_data": np.asarray(jax.random.key_data(keys)).tolist(),
            "chunk_size": chunk_size,
        },
    )
    flat_hp, flat_keys = flatten_grid(hparams, keys)
    sweep = make_sharded_sweep(cfg, devices=devices)

    def compute(index: int) -> dict[str, np.ndarray]:
        part = slice(index * chunk_size, min(total, (index + 1) * chunk_size))
        hp = jax.tree_util.tree_map(lambda x: x[part], flat_hp)
        metrics = sweep(hp, flat_keys[part])
        return {k: np.asarray(v) for k, v in metrics._asdict().items()}

    def report(index: int, reused: bool) -> None:
        if on_chunk is not None and not reused:
            on_chunk(index)

    loaded = run_chunks(store, ids, compute, process_index, process_count, report)
    if loaded is None:
        return None
    arrays = {name: np.concatenate([c[name] for c in loaded]) for name in loaded[0]}
    return unflatten(Metrics(**arrays), num_h, num_s)


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> tuple[int, int]:
    """``jax.distributed.initialize`` from arguments or env vars; returns (index, count).

    Arguments left None fall back to ``RLXFORM_COORDINATOR`` (host:port of process 0),
    ``RLXFORM_NUM_PROCESSES`` and ``RLXFORM_PROCESS_ID``; with none of them set (and no
    cluster JAX detects by itself, e.g. SLURM), this is a single-process run and nothing is
    initialised. Call before any other JAX work.
    """
    env = os.environ
    coordinator = coordinator or env.get("RLXFORM_COORDINATOR")
    if num_processes is None and "RLXFORM_NUM_PROCESSES" in env:
        num_processes = int(env["RLXFORM_NUM_PROCESSES"])
    if process_id is None and "RLXFORM_PROCESS_ID" in env:
        process_id = int(env["RLXFORM_PROCESS_ID"])
    if coordinator is None and num_processes in (None, 1):
        return 0, 1
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )
    return jax.process_index(), jax.process_count()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rlxform.sim.sharding`` (deprecated: ``rlxform sweep CONFIG --coordinator ...``).

    A chunked, sharded learning-rate x seed sweep of one tabular problem, through the same
    chunked runner (``chunks.run_chunks``) as ``rlxform sweep``.

    Multi-host: run the same command on every host with ``--coordinator HOST0:PORT
    --num-processes N --process-id I`` (or the RLXFORM_* env vars); each process computes its
    share of chunks into ``--out`` (a shared filesystem), the last one to finish writes
    ``mean_p.csv``. Input is validated like ``rlxform``'s (one line, exit 2; signals 130/143).
    """
    from rlxform.cli import run_guarded

    return run_guarded(lambda: _main(argv), prog="python -m rlxform.sim.sharding")


def _main(argv: Sequence[str] | None) -> int:
    from rlxform.cli import _Parser, build_schemes, check_out
    from rlxform.resources import MAX_STEPS, check_memory, simulation_bytes
    from rlxform.results import check_writable, write_table
    from rlxform.validation import check_float, check_int, check_seed

    parser = _Parser(
        prog="python -m rlxform.sim.sharding",
        description="Deprecated: use rlxform sweep CONFIG.toml --out DIR [--coordinator "
        "HOST:PORT --num-processes N --process-id I] (same chunked runner, any problem).",
    )
    parser.add_argument("--coordinator", default=None, help="host:port of process 0")
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    parser.add_argument("--out", required=True, help="chunk directory (shared by all hosts)")
    parser.add_argument("--scheme", default="grpo")
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--responses", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--record-every", type=int, default=20)
    parser.add_argument("--lrs", default="0.01,0.03,0.1,0.3,1.0", help="comma list")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-size", type=int, default=64, help="runs per chunk")
    args = parser.parse_args(argv)
    check_out(args)
    (scheme,) = build_schemes([args.scheme], [])
    steps = check_int("--steps", args.steps, 1, MAX_STEPS)
    if steps % check_int("--record-every", args.record_every, 1, steps):
        raise ValueError(
            f"--record-every={args.record_every!r} is invalid: must divide --steps={steps}"
        )
    try:
        lr_list = [float(v) for v in args.lrs.split(",") if v.strip()]
    except ValueError:
        raise ValueError(
            f"--lrs={args.lrs!r} is invalid: must be comma-separated numbers"
        ) from None
    if not lr_list:
        raise ValueError(f"--lrs={args.lrs!r} is invalid: must list at least one number")
    for value in lr_list:
        check_float("--lrs", value, 0.0, low_open=True, float32=True)
    seeds = check_int("--seeds", args.seeds, 1)
    seed = check_seed("--seed", args.seed)
    chunk_size = check_int("--chunk-size", args.chunk_size, 1)
    problem = Problem(
        "tabular",
        check_int("--prompts", args.prompts, 1),
        check_int("--responses", args.responses, 2),
        init_p=("beta", 1.0, 1.0),
    )
    group_size = check_int("--group-size", args.group_size, 1)
    cfg = SimConfig(scheme, problem, group_size, steps, record_every=args.record_every)
    runs = min(chunk_size, len(lr_list) * seeds)
    check_memory(
        f"sharded sweep (--chunk-size={chunk_size}, --prompts={args.prompts}, "
        f"{cfg.num_records} records)",
        simulation_bytes(cfg, runs) + simulation_bytes(cfg, len(lr_list) * seeds) // 2,
    )
    check_writable(args.out, name="--out")
    index, count = initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    lrs = np.asarray(lr_list, np.float32)
    keys = jax.random.split(jax.random.key(seed), seeds)
    metrics = run_chunked(
        cfg,
        HParams(lrs),
        keys,
        args.out,
        chunk_size,
        process_index=index,
        process_count=count,
    )
    print(f"process {index}/{count}: local devices {len(jax.local_devices())}", flush=True)
    if metrics is None:
        print("other processes' chunks are still missing; rerun any process to assemble")
        return 0
    mean_p = np.asarray(metrics.mean_p).mean(axis=1)  # [H, R] seed mean
    table = {
        "learning_rate": np.repeat(lrs, mean_p.shape[1]),
        "step": np.tile(np.asarray(metrics.step[0, 0]), len(lrs)),
        "mean_p": mean_p.reshape(-1).astype(np.float64),
    }
    write_table(os.path.join(args.out, "mean_p.csv"), table)
    print(f"wrote {os.path.join(args.out, 'mean_p.csv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

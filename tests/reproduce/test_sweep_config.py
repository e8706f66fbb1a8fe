"""Sweep TOML configs: parsed as data, unknown keys and wrong types named, reproducible runs."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

from rlxform.cli import main
from rlxform.core import schemes
from rlxform.reproduce import sweep_runner, sweep_tables
from rlxform.reproduce.sweep_config import load_sweep_config, parse_sweep_config
from rlxform.results import read_table

TINY = """
learning_rate = [0.3, 1.0]
group_size = [2, 4]
seeds = 2
seed = 7
steps = 8
records = 4

[policy]
kind = "tabular"
num_prompts = 3
num_responses = 3

[population]
init_p = [0.2, 0.5]

[[schemes]]
name = "grpo"
std = "sample"
eps = 1e-6
"""


def test_parses_everything(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    cfg = load_sweep_config(path)
    assert cfg.hparams.learning_rate == (0.3, 1.0) and cfg.group_size == (2, 4)
    assert cfg.seeds == 2 and cfg.seed == 7 and cfg.sim.num_steps == 8
    assert cfg.problem.num_prompts == 3 and cfg.problem.num_responses == 3
    assert cfg.problem.init_p == (0.2, 0.5) and cfg.problem.policy == "tabular"
    assert cfg.schemes == (schemes.grpo(std="sample", eps=1e-6),)
    assert cfg.record_every_for(4) == 2
    assert sweep_tables.scheme_params(cfg.schemes[0]) == "eps=1e-06,std=sample"


def test_dynamic_sampling_key_reaches_the_simulator():
    """``dynamic_sampling = true`` in TOML runs the dynamic-sampling simulator (same keys)."""
    import dataclasses

    import jax

    from rlxform.sim import sweeps
    from rlxform.sim.config import Problem, SimConfig
    from rlxform.sim.hparams import HParams

    cfg = parse_sweep_config({**_tiny_dict(), "dynamic_sampling": True})
    assert cfg.sim.dynamic_sampling and not parse_sweep_config(_tiny_dict()).sim.dynamic_sampling
    chunk = _chunk(cfg)
    sim = SimConfig(
        cfg.schemes[0],
        Problem(num_prompts=3, num_responses=3, init_p=(0.2, 0.5)),
        group_size=4,
        num_steps=8,
        record_every=2,
        dynamic_sampling=True,
    )
    keys = jax.random.split(jax.random.key(7), 2)
    hparams = HParams(np.asarray([0.3, 1.0], np.float32))
    want = sweeps.make_sweep(sim)(hparams, keys).mean_p
    np.testing.assert_array_equal(chunk["mean_p"], want)
    plain = sweeps.make_sweep(dataclasses.replace(sim, dynamic_sampling=False))(hparams, keys)
    assert np.abs(np.asarray(plain.mean_p) - np.asarray(want)).max() > 1e-3


def _tiny_dict():
    import tomllib

    return tomllib.loads(TINY)


def _chunk(cfg, group_size: int = 4):
    """The records of the sweep's first scheme at M = ``group_size``, computed in one chunk."""
    chunk = sweep_runner.Chunk(0, group_size, 0, 1, len(cfg.learning_rate) * cfg.seeds)
    return sweep_runner._compute(cfg, cfg.sim_config(cfg.schemes[0], group_size), chunk)


def test_budget_holds_m_times_steps():
    cfg = parse_sweep_config({"group_size": [2, 8], "budget": 64, "records": 4})
    assert [cfg.steps_for(m) * m for m in (2, 8)] == [64, 64]
    assert cfg.steps_for(8) % cfg.record_every_for(8) == 0


@pytest.mark.parametrize(
    "data, named",
    [
        ({"learning_rates": [0.1]}, "learning_rates"),
        ({"policy": {"kind": "tabular", "prompts": 3}}, "prompts"),
        ({"population": {"init": "grid"}}, "init"),
        ({"schemes": [{"name": "grpo", "epsilon": 0.1}]}, "epsilon"),
    ],
)
def test_unknown_keys_are_named(data, named):
    with pytest.raises(ValueError, match=named):
        parse_sweep_config(data)


@pytest.mark.parametrize(
    "data, named",
    [
        ({"steps": "100"}, "steps='100'"),
        ({"steps": 1.5}, "steps=1.5"),
        ({"seeds": True}, "seeds=True"),
        ({"learning_rate": 0.1}, "learning_rate=0.1"),
        ({"learning_rate": [0.1, -1.0]}, "learning_rate=-1.0"),
        ({"group_size": [4, "8"]}, "group_size='8'"),
        ({"optimizer": "rmsprop"}, "optimizer='rmsprop'"),
        ({"policy": {"kind": "mlp"}}, "policy.kind='mlp'"),
        ({"policy": {"num_prompts": 0}}, "policy.num_prompts=0"),
        ({"population": {"init_p": [0.5, 1.5]}}, "population.init_p=1.5"),
        ({"schemes": [{"name": "nope"}]}, "schemes[0].name='nope'"),
        ({"schemes": [{"name": "grpo", "eps": -1.0}]}, "eps"),
        ({"threshold": 2.0}, "threshold=2.0"),
        ({"dynamic_sampling": "yes"}, "dynamic_sampling='yes'"),
    ],
)
def test_wrong_types_name_key_value_and_allowed(data, named):
    with pytest.raises(ValueError, match="invalid: must be") as err:
        parse_sweep_config(data)
    assert named in str(err.value)


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3")
    with pytest.raises(ValueError, match="cannot read it as TOML"):
        load_sweep_config(bad)
    with pytest.raises(ValueError, match="no such file"):
        load_sweep_config(tmp_path / "missing.toml")


def test_cli_rejects_unknown_key_in_one_line(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(TINY + "\nbogus = 1\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and len(err.strip().splitlines()) == 1


def test_same_config_same_results_and_resume(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    assert main(["sweep", str(path), "--out", str(tmp_path / "a")]) == 0
    assert main(["sweep", str(path), "--out", str(tmp_path / "b")]) == 0
    a = (tmp_path / "a" / "sweep.csv").read_bytes()
    assert a == (tmp_path / "b" / "sweep.csv").read_bytes()
    table = read_table(tmp_path / "a" / "sweep.csv")
    # one row per (scheme, M, lr, seed or aggregate, record)
    assert len(table["step"]) == 2 * 2 * (2 + 1) * 5
    assert set(table["seed"].tolist()) == {-1, 0, 1}
    # rerun into the same directory reuses every chunk and gives the same bytes
    chunk = next((tmp_path / "a" / "chunks").glob("*.npz"))
    before = chunk.stat().st_mtime_ns
    assert main(["sweep", str(path), "--out", str(tmp_path / "a")]) == 0
    assert chunk.stat().st_mtime_ns == before
    assert (tmp_path / "a" / "sweep.csv").read_bytes() == a


def test_aggregate_is_seed_mean():
    cfg = parse_sweep_config(
        {
            "group_size": [2],
            "learning_rate": [0.5],
            "seeds": 3,
            "steps": 4,
            "records": 2,
            "schemes": [{"name": "reinforce"}],
        }
    )
    chunk = {
        "step": np.array([0, 2, 4]),
        "mean_p": np.array([[[0.5, 0.6, 0.7], [0.5, 0.8, np.nan], [0.5, 0.7, 0.9]]]),
        "objective": np.zeros((1, 3, 3)),
        "finite": np.ones((1, 3, 3), bool),
        "nonfinite_step": np.array([[-1, 3, -1]]),
    }
    chunk["finite"][0, 1, 2] = False
    traj, summary = sweep_tables.sweep_tables(cfg, {(0, 2): chunk})
    agg = traj["seed"] == -1
    np.testing.assert_allclose(traj["mean_p"][agg], [0.5, 0.7, 0.8])
    assert traj["diverged_at"][agg][0] == 3 and traj["diverged_seeds"][agg][0] == 1
    seed1 = summary["seed"] == 1
    assert summary["diverged_at"][seed1][0] == 3


def test_load_dataclass_checks_keys_types_and_the_class():
    import dataclasses
    from typing import Any

    from rlxform.validation import InputError, load_dataclass

    @dataclasses.dataclass(frozen=True)
    class Table:
        kind: str = "a"
        size: int = 1
        limit: int | None = None
        rate: float = 0.5
        flag: bool = False
        values: Any = (0.5,)

        def __post_init__(self):
            if self.size < 1:
                raise ValueError(f"size={self.size!r} is invalid: must be >= 1")

    got = load_dataclass(Table, {"size": 3, "limit": 2, "rate": 1, "values": [0.1, 0.2]}, "t.")
    assert got == Table("a", 3, 2, 1.0, False, (0.1, 0.2))
    assert isinstance(got.rate, float)
    cases = [
        (
            {"sise": 3},
            ["unknown key 't.sise'", "allowed: kind, size, limit", "did you mean 'size'"],
        ),
        ({"size": True}, ["t.size=True is invalid: must be an integer"]),
        ({"limit": 1.5}, ["t.limit=1.5 is invalid: must be an integer"]),
        ({"rate": "x"}, ["t.rate='x' is invalid: must be a number"]),
        ({"flag": 1}, ["t.flag=1 is invalid: must be true or false"]),
        ({"size": 0}, ["t.size=0 is invalid: must be >= 1"]),
    ]
    for data, needles in cases:
        with pytest.raises(InputError) as err:
            load_dataclass(Table, data, "t.")
        for needle in needles:
            assert needle in str(err.value), (needle, str(err.value))
    with pytest.raises(InputError, match="must be a table"):
        load_dataclass(Table, [1], "t.")


SEQUENCE = """
learning_rate = [0.5, 2.0]
group_size = [4]
seeds = 2
steps = 6
records = 3
aggregation = "trl:grpo"
batch_groups = 2

[policy]
kind = "sequence_tabular"
num_prompts = 2
vocab_size = 3
max_length = 3
verifier = "parity"

[population]
init_p = [0.3]

[[schemes]]
name = "grpo"
"""


def test_sequence_keys_reach_the_problem_and_a_tiny_sequence_sweep_writes_tables(tmp_path):
    import tomllib

    cfg = parse_sweep_config(tomllib.loads(SEQUENCE))
    problem = cfg.problem
    assert (problem.policy, problem.vocab_size, problem.max_length) == ("sequence_tabular", 3, 3)
    assert problem.verifier == "parity" and problem.init_p == (0.3,)
    assert (cfg.sim.aggregation, cfg.sim.batch_groups) == ("seq-mean-token-mean", 2)  # TRL alias
    sim = cfg.sim_config(cfg.schemes[0], 4)
    assert sim.problem is problem and sim.aggregation == "seq-mean-token-mean"
    path = tmp_path / "seq.toml"
    path.write_text(SEQUENCE)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 0
    traj, summary = read_table(out / "sweep.csv"), read_table(out / "sweep_summary.csv")
    assert len(summary["seed"]) == 2 * 3  # 2 learning rates x (2 seeds + aggregate)
    assert len(traj["step"]) == 2 * 3 * 4 and set(traj["step"]) == {0, 2, 4, 6}
    start = traj["mean_p"][traj["step"] == 0]
    np.testing.assert_allclose(start, 0.3, atol=1e-5)  # initial p exactly as requested
    assert np.isfinite(summary["final_mean_p"]).all()
    # exact E[L | correct] under parity (correct needs a stop, so L <= 3) and E[L | wrong]
    assert {"mean_length_correct", "mean_length_wrong"} <= set(traj)
    correct, wrong = traj["mean_length_correct"], traj["mean_length_wrong"]
    assert ((correct >= 1) & (correct <= 3)).all() and ((wrong >= 1) & (wrong <= 3)).all()
    agg = traj["seed"] == -1
    first = (traj["seed"] == 0) & (traj["step"] == 0)
    np.testing.assert_allclose(correct[agg & (traj["step"] == 0)], correct[first], rtol=1e-6)


@pytest.mark.parametrize(
    "data, named",
    [
        ({"policy": {"kind": "sequence_tabular", "vocab_size": 1}}, "vocab_size=1"),
        ({"policy": {"kind": "sequence_tabular", "verifier": "nope"}}, "verifier"),
        ({"aggregation": "token-sum"}, "aggregation='token-sum'"),
        ({"batch_groups": 0}, "batch_groups=0"),
        ({"policy": {"kind": "tabular", "num_prompts": 4}, "batch_groups": 3}, "batch_groups=3"),
        ({"policy": {"vocab": 3}}, "did you mean 'vocab_size'"),
    ],
)
def test_sequence_keys_are_checked(data, named):
    from rlxform.validation import InputError

    with pytest.raises(InputError) as err:
        parse_sweep_config(data)
    assert named in str(err.value)


def test_memory_estimate_of_sequence_problems_counts_prefixes():
    from rlxform import resources
    from rlxform.sim.config import Problem, SimConfig

    def estimate(**problem) -> int:
        cfg = SimConfig("grpo", Problem(**problem), group_size=4, num_steps=2)
        return resources.simulation_bytes(cfg, 1)

    tabular = dict(policy="sequence_tabular", num_prompts=2, vocab_size=3)
    # prefixes 1 + 2 + 4 (max_length 3) -> 1 + ... + 2**4 (max_length 5): logits P x prefixes x V
    short, long = estimate(**tabular, max_length=3), estimate(**tabular, max_length=5)
    assert long - short >= 4 * 4 * 2 * (31 - 7) * 3  # 4 copies of float32 params, at least
    network = estimate(policy="sequence_network", num_prompts=2, vocab_size=3, hidden=64)
    assert network > 4 * 4 * 64 * 64  # at least the recurrent weights


def test_the_shipped_experiment_configs_still_load():
    from pathlib import Path

    files = sorted((Path(__file__).parents[2] / "experiments").glob("sweep_*.toml"))
    assert len(files) >= 2
    for path in files:
        cfg = load_sweep_config(path)
        assert cfg.problem.policy == "tabular" and cfg.problem.num_prompts == 16
    budget = load_sweep_config(files[0].with_name("sweep_budget.toml"))
    assert budget.problem.init_p == ("beta", 1.0, 3.0) and budget.budget == 1024


PPO = {"ppo_epochs": 2, "num_minibatches": 2, "clip_low": 0.1, "clip_high": 0.28, "dual_clip": 3}


def test_ppo_keys_reach_the_simulator_and_clip_fraction_is_recorded(tmp_path):
    """PPO keys in TOML run the PPO simulator with the clip range as traced hparams: each run of
    the chunk equals ``make_simulate`` alone with the same key and ``HParams``."""
    import jax

    from rlxform.sim.hparams import HParams
    from rlxform.sim.simulate import make_simulate

    data = {**_tiny_dict(), "policy": {"kind": "tabular", "num_prompts": 4}, **PPO}
    cfg = parse_sweep_config(data)
    clip = {k: getattr(cfg.hparams, k) for k in ("clip_low", "clip_high", "dual_clip")}
    assert clip == {"clip_low": 0.1, "clip_high": 0.28, "dual_clip": 3.0}
    sim = cfg.sim_config(cfg.schemes[0], 4)
    assert (sim.ppo_epochs, sim.num_minibatches, sim.is_ppo) == (2, 2, True)
    chunk = _chunk(cfg)
    assert chunk["clip_fraction"].shape == chunk["mean_p"].shape == (2, 2, 5)
    keys = jax.random.split(jax.random.key(7), 2)
    run = make_simulate(sim)
    for h, lr in enumerate((0.3, 1.0)):
        for s in range(2):
            alone = run(HParams(lr, clip_low=0.1, clip_high=0.28, dual_clip=3.0), keys[s])
            np.testing.assert_allclose(chunk["mean_p"][h, s], alone.mean_p, rtol=1e-5)
            np.testing.assert_allclose(chunk["clip_fraction"][h, s], alone.clip_fraction, rtol=1e-5)
    assert chunk["clip_fraction"][1].max() > 0  # lr 1 moves the ratio past the clip
    wide = parse_sweep_config({**data, "clip_low": 1.0, "clip_high": 100.0})
    loose = _chunk(wide)
    assert loose["clip_fraction"].max() < chunk["clip_fraction"].max()
    assert np.abs(loose["mean_p"] - chunk["mean_p"]).max() > 1e-4  # the clip range is used

    path = tmp_path / "ppo.toml"
    lines = [TINY.replace("num_prompts = 3", "num_prompts = 4")]
    lines += [f"{k} = {v}" for k, v in PPO.items()]
    path.write_text("\n".join(lines[1:] + lines[:1]))  # top-level keys before the tables
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 0
    traj = read_table(out / "sweep.csv")
    fraction = traj["clip_fraction"]
    assert np.all((fraction >= 0) & (fraction <= 1)) and fraction.max() > 0
    plain = parse_sweep_config(_tiny_dict())
    assert "clip_fraction" not in sweep_tables.extra_columns(plain)


@pytest.mark.parametrize(
    "data, named",
    [
        ({"ppo_epochs": 0}, "ppo_epochs=0"),
        ({"num_minibatches": 2.5}, "num_minibatches=2.5"),
        ({"num_minibatches": 3, "policy": {"num_prompts": 4}}, "num_minibatches=3"),
        ({"clip_low": 0.0}, "clip_low=0.0"),
        ({"clip_low": 1.5}, "clip_low=1.5"),
        ({"clip_high": -0.1}, "clip_high=-0.1"),
        ({"dual_clip": 1.0}, "dual_clip=1.0"),
        ({"std_scope": "global"}, "std_scope='global'"),
        ({"std_scope": "batch", "schemes": [{"name": "reinforce"}]}, "std_scope='batch'"),
        ({"ppo_epochs": 2, "kl_coef": 0.1}, "kl_coef is invalid with ppo_epochs=2"),
        ({"ppo_epoch": 2}, "did you mean 'ppo_epochs'"),
    ],
)
def test_ppo_keys_are_checked(data, named):
    from rlxform.validation import InputError

    with pytest.raises(InputError) as err:
        parse_sweep_config(data)
    assert named in str(err.value)


class _Traced(NamedTuple):
    rate: float
    coef: float | None = None


@dataclasses.dataclass(frozen=True)
class _Inner:
    size: int = 1
    kind: str = "a"

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"size={self.size!r} is invalid: must be >= 1")


@dataclasses.dataclass(frozen=True)
class _Outer:
    inner: _Inner = _Inner(2, "b")
    traced: _Traced = _Traced(0.5)  # noqa: RUF009
    seeds: int = 1


@dataclasses.dataclass(frozen=True)
class _Bare:
    inner: _Inner


def test_load_dataclass_nests_tables_over_defaults_and_names_the_users_keys():
    from rlxform.validation import InputError, Key, load_dataclass

    Inner, Outer, Bare, Traced = _Inner, _Outer, _Bare, _Traced
    # nested tables replace only what they name; the default's other values stay
    got = load_dataclass(Outer, {"inner": {"size": 3}, "traced": {"coef": 2}})
    assert got == Outer(Inner(3, "b"), Traced(0.5, 2))
    assert load_dataclass(Bare, {"inner": {"kind": "c"}}) == Bare(Inner(1, "c"))
    # a key table: flat user keys, nested fields, a converter; errors name the user's key
    keys = {"n": "inner.size", "--kind": Key("inner.kind", lambda key, v: v.upper()), "s": "seeds"}
    assert load_dataclass(Outer, {"n": 4, "--kind": "x"}, keys=keys) == Outer(Inner(4, "X"))
    cases = [
        ({"n": 0}, keys, "n=0 is invalid: must be >= 1"),
        ({"s": "2"}, keys, "s='2' is invalid: must be an integer"),
        ({"m": 1}, keys, "unknown key 'm'; allowed: n, --kind, s"),
        ({"inner": {"sise": 3}}, None, "unknown key 'inner.sise'; allowed: size, kind"),
        ({"inner": 3}, None, "inner=3 is invalid: must be a table"),
        ({"inner": {"size": 0}}, None, "inner.size=0 is invalid: must be >= 1"),
    ]
    for data, table, needle in cases:
        with pytest.raises(InputError) as err:
            load_dataclass(Outer, data, keys=table)
        assert needle in str(err.value), (needle, str(err.value))


def test_every_run_field_is_a_toml_key():
    """The TOML keys follow ``SimConfig`` / ``HParams`` / ``Problem``: a field added there is a
    key of sweep files without an edit here (the next PPO knob reaches TOML by itself)."""
    import dataclasses

    from rlxform.reproduce.sweep_config import toml_keys
    from rlxform.sim.config import Problem, SimConfig
    from rlxform.sim.hparams import HParams

    keys = {k: (v if isinstance(v, str) else v.field) for k, v in toml_keys().items()}
    fields = set(keys.values())
    set_per_chunk = {"sim.scheme", "sim.problem", "sim.group_size", "sim.record_every"}
    sim = {f"sim.{f.name}" for f in dataclasses.fields(SimConfig)} - set_per_chunk
    problem = {f"sim.problem.{f.name}" for f in dataclasses.fields(Problem)}
    traced = {f"hparams.{name}" for name in HParams._fields if name != "eps"}
    assert sim | problem | traced <= fields
    cfg = parse_sweep_config({"sampler": "counts", "policy": {"features": 8}, "steps": 6})
    assert (cfg.sim.sampler, cfg.problem.features, cfg.sim.num_steps) == ("counts", 8, 6)
    assert cfg.sim_config(cfg.schemes[0], 4).sampler == "counts"


def test_nested_lists_are_not_learning_rates():
    with pytest.raises(ValueError, match=r"learning_rate=\[0.1\] is invalid: must be a number"):
        parse_sweep_config({"learning_rate": [[0.1]]})


def test_framework_and_module_schemes_get_valid_chunk_ids(tmp_path, monkeypatch):
    """``verl:grpo`` and ``module:function`` [[schemes]] give chunk ids a store accepts (the
    registry name of the scheme, never the raw ``:`` name) and a config with a JSON form."""
    from rlxform.results.chunks import ChunkStore

    (tmp_path / "my_weights.py").write_text("def centred(r, s, m):\n    return r - s / m\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = [{"name": "verl:grpo"}, {"name": "my_weights:centred"}]
    cfg = parse_sweep_config({"schemes": names, "group_size": [4]}, allow_import=True)
    ids = [chunk.chunk_id(cfg) for chunk in sweep_runner.sweep_chunks(cfg)]
    assert ids == ["000-verl-M4", "001-custom-M4"]
    store = ChunkStore(tmp_path / "chunks", cfg)
    assert store.missing(ids) == ids  # valid ids: looked up, not refused
    manifest = (tmp_path / "chunks" / "manifest.json").read_text()
    assert "my_weights:centred" in manifest


def test_chunk_size_cuts_runs_into_parts_that_resume_and_give_the_same_tables(tmp_path):
    import json

    data = {**_tiny_dict(), "group_size": [2]}
    whole = parse_sweep_config(data)
    parts = parse_sweep_config({**data, "chunk_size": 3})  # 2 lr x 2 seeds = 4 runs: 3 + 1
    sweep_runner.run_sweep(whole, tmp_path / "whole")
    sweep_runner.run_sweep(parts, tmp_path / "parts")
    files = sorted(p.name for p in (tmp_path / "parts" / "chunks").glob("*.npz"))
    assert files == ["000-grpo-M2-part00000.npz", "000-grpo-M2-part00001.npz"]
    for name in ("sweep.csv", "sweep_summary.csv"):
        a, b = read_table(tmp_path / "whole" / name), read_table(tmp_path / "parts" / name)
        for column in a:
            if a[column].dtype.kind == "f":
                np.testing.assert_allclose(a[column], b[column], rtol=1e-6, err_msg=column)
            else:
                np.testing.assert_array_equal(a[column], b[column], err_msg=column)
    before = (tmp_path / "parts" / "sweep.csv").read_bytes()
    (tmp_path / "parts" / "chunks" / "000-grpo-M2-part00001.npz").unlink()
    sweep_runner.run_sweep(parts, tmp_path / "parts")  # recomputes the missing part only
    meta = json.loads((tmp_path / "parts" / "sweep.json").read_text())
    assert (meta["chunks_total"], meta["chunks_reused"]) == (2, 1)
    assert (tmp_path / "parts" / "sweep.csv").read_bytes() == before


def test_a_chunk_written_for_the_old_config_layout_is_never_read(tmp_path, capsys):
    """A directory of rlxform 0.4.1 (flat ``SweepConfig``, ``SchemeSpec`` schemes) pins another
    config hash: the sweep refuses it in one line and leaves its chunks untouched."""
    from rlxform.results.chunks import ChunkStore

    old = {"learning_rate": [0.3, 1.0], "group_size": [2, 4], "schemes": [{"name": "grpo"}]}
    store = ChunkStore(tmp_path / "out" / "chunks", old)
    store.save("000-grpo-M2", {"step": np.arange(3), "mean_p": np.full((2, 2, 3), 0.99)})
    chunk = tmp_path / "out" / "chunks" / "000-grpo-M2.npz"
    before = chunk.read_bytes()
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "different config" in err and "\n" not in err
    assert chunk.read_bytes() == before and not (tmp_path / "out" / "sweep.csv").exists()

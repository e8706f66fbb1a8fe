"""Bad input found by an adversarial pass over the CLI and the Python entry points.

Each case failed the contract before its fix (a traceback, a value silently ignored, an error
naming the wrong value); now it is one ``InputError`` line naming the argument and the value.
The CLI cases run in-process (``cli.main``), all refused before any simulation runs.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from helpers import one_line_error

from rlxform import cli
from rlxform.cli_args import build_schemes, parse_scheme_params
from rlxform.sim.config import Problem, SimConfig
from rlxform.sim.hparams import HParams
from rlxform.validation import InputError

SIM = ["simulate", "--scheme", "grpo", "--steps", "2", "--seeds", "2", "--prompts", "2"]
SEQ = [*SIM, "--policy", "sequence_tabular"]
DYN = [*SIM, "--dynamic-sampling"]
OFF = "that filter is off"


CLI_CASES = [
    # a filter's number without its filter was ignored (the run wrote results as if not given)
    ("mismatch without vllm", [*SIM, "--mismatch-mean", "-1"], ["--mismatch-mean=-1.0", OFF]),
    ("cap without vllm", [*SEQ, "--vllm-cap", "5"], ["--vllm-cap=5.0", "--vllm-mode=None", OFF]),
    ("factor without overlong", [*SEQ, "--overlong-factor", "3"], ["--overlong-factor=3.0", OFF]),
    ("quantile w/o filter", [*SEQ, "--entropy-quantile", "0.5"], ["--entropy-quantile=0.5", OFF]),
    ("range without dynamic", [*SIM, "--range-low", "0.1"], ["--range-low=0.1", OFF]),
    # the simulator's overlong buffer had no upper bound (verl asserts buffer <= max length)
    ("buffer > max length", [*SEQ, "--overlong", "--overlong-buffer", "100"],
     ["--overlong-buffer=100.0", "(0, 6]"]),
    # a setting of a term that is off (no coefficient) was ignored
    ("estimator w/o KL", [*SIM, "--kl-estimator", "k2"], ["--kl-estimator='k2'", "--kl-coef"]),
    ("placement w/o KL", [*SIM, "--kl-placement", "reward"], ["--kl-placement='reward'"]),
    ("entropy agg w/o coef", [*SEQ, "--entropy-aggregation", "token-mean"],
     ["--entropy-aggregation='token-mean'", "without --entropy-coef"]),
    # a range that keeps no group: the run never moved (max_abs_dev=0) and said nothing
    ("range keeps none", [*DYN, "--range-high", "-1"], ["--range-high=-1.0", "keep no group"]),
    ("range keeps none 0", [*DYN, "--range-high", "0"], ["--range-high=0.0", "above 0"]),
    ("range low 1", [*DYN, "--range-low", "1"], ["--range-low=1.0", "below 1"]),
    # argparse took -1e-3 and -inf for options: "expected one argument", no value named
    ("lr -inf", [*SIM, "--lr", "-inf"], ["--lr=-inf", "finite"]),
    ("lr -1e-3", [*SIM, "--lr", "-1e-3"], ["--lr=-0.001", "(0, inf)"]),
    ("grid -1e3", ["transforms", "--grid", "-1e3"], ["--grid", "'-1e3'", "int"]),
    # the same name twice ran (or tabulated) it twice
    ("sizes twice", ["transforms", "--group-sizes", "4,8,4"], ["--group-sizes='4,8,4'", "4 is"]),
    ("schemes twice", ["transforms", "--schemes", "grpo,grpo"], ["--schemes=", "'grpo' is"]),
    ("only twice", ["reproduce", "--only", "fig3_grpo,fig3_grpo"], ["--only=", "twice"]),
    # an empty KEY or SCHEME was accepted (".eps=1" as eps=1) or blamed on "no scheme"
    ("empty key", ["transforms", "--scheme-param", "=1"], ["--scheme-param='=1'", "KEY"]),
    ("empty scheme", ["transforms", "--scheme-param", ".eps=1"], ["--scheme-param='.eps=1'"]),
    # Path("") is the current directory: the error named '.' instead of the value given
    ("explain empty path", ["explain", ""], ["config=''", "file path"]),
    # module:function names that import_module cannot take: TypeError / ValueError text
    ("relative module", ["explain", "--scheme", ".x:f", "--group-size", "4", "--allow-import"],
     ["scheme='.x:f'", "module:function"]),
    ("empty module", ["explain", "--scheme", ":", "--group-size", "4", "--allow-import"],
     ["scheme=':'"]),
    # distributed flags: ignored (--process-id alone) or refused by JAX without the flag's name
    ("process id alone", ["sweep", "x.toml", "--process-id", "1"], ["--process-id=1", "together"]),
    ("coordinator alone", ["sweep", "x.toml", "--coordinator", "h:1"], ["--coordinator='h:1'"]),
    ("coordinator no port",
     ["sweep", "x.toml", "--num-processes", "2", "--process-id", "0", "--coordinator", "nohost"],
     ["--coordinator='nohost'", "HOST:PORT"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "needles"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_cli_bad_input_is_one_named_line(argv, needles, tmp_path, capsys):
    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 2
    one_line_error(capsys.readouterr().err, needles)
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_bench_scale_checked_for_every_workload(capsys):
    """``--workload explain`` ran a whole benchmark with --scale nan."""
    assert cli.main(["bench", "--workload", "explain", "--scale", "nan"]) == 2
    one_line_error(capsys.readouterr().err, ["--scale=nan"])


@pytest.mark.parametrize(
    ("source", "needles"),
    [
        ("x = (\n", ["scheme='qa_broken:f'", "SyntaxError"]),
        ("raise RuntimeError('boom')\n", ["scheme='qa_broken:f'", "RuntimeError: boom"]),
    ],
)
def test_module_whose_import_fails_is_one_line(source, needles, tmp_path, capsys, monkeypatch):
    """A user module that does not import was a traceback (only ImportError was caught)."""
    (tmp_path / "qa_broken.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["explain", "--scheme", "qa_broken:f", "--group-size", "4", "--allow-import"]
    assert cli.main(argv) == 2
    one_line_error(capsys.readouterr().err, needles)


@pytest.mark.parametrize("order", [("grpo.eps=0.001", "eps=0.01"), ("eps=0.01", "grpo.eps=0.001")])
def test_scheme_specific_param_wins_in_any_order(order):
    """``grpo.eps`` before a general ``eps`` was overwritten by it (the last one won)."""
    grpo, f_grpo = build_schemes(["grpo", "f_grpo"], parse_scheme_params(list(order)))
    assert dict(grpo.params)["eps"] == 0.001
    assert dict(f_grpo.params)["eps"] == 0.01


SEQ_PROBLEM = Problem(policy="sequence_tabular", vocab_size=3, max_length=3, verifier="parity")


@pytest.mark.parametrize(
    ("hparams", "needles"),
    [
        (HParams(0.1, vllm_cap=2.0), ["vllm_cap", "vllm_mode=None"]),
        (HParams(0.1, overlong_buffer=2.0), ["overlong_buffer", "overlong=False"]),
        (HParams(0.1, entropy_quantile=0.5), ["entropy_quantile", "entropy_filter=False"]),
    ],
)
def test_api_filter_number_without_its_filter_is_refused(hparams, needles):
    """``make_simulate``'s sparse fast path ran such a run as if the number were not given
    (traced there, so the message names the number without its value)."""
    from rlxform.reproduce.simulate_run import SimulateConfig
    from rlxform.sim.simulate import make_simulate

    cfg = SimConfig("grpo", problem=SEQ_PROBLEM, group_size=4, num_steps=2)
    for call in (
        lambda: SimulateConfig(cfg, hparams, seeds=1),
        lambda: make_simulate(cfg)(hparams, jax.random.key(0)),
    ):
        with pytest.raises(InputError) as err:
            call()
        for needle in needles:
            assert needle in str(err.value), (needle, str(err.value))


def test_api_range_that_keeps_no_group_is_refused():
    from rlxform.sim.combinations import check_combination

    cfg = SimConfig("grpo", group_size=4, dynamic_sampling=True)
    with pytest.raises(InputError, match=r"range_high=-0\.5 is invalid: dynamic sampling"):
        check_combination(cfg, HParams(0.1, range_high=np.array([0.5, -0.5])))
    check_combination(cfg, HParams(0.1, range_low=-0.5, range_high=0.9))  # keeps S/M in [0, 0.9)


def test_distributed_env_values_are_named(monkeypatch):
    """``RLXFORM_NUM_PROCESSES=two`` was "invalid literal for int() with base 10"."""
    from rlxform.reproduce.sweep_runner import initialize_distributed

    monkeypatch.setenv("RLXFORM_NUM_PROCESSES", "two")
    with pytest.raises(InputError, match=r"RLXFORM_NUM_PROCESSES='two' is invalid"):
        initialize_distributed()
    monkeypatch.setenv("RLXFORM_NUM_PROCESSES", "1")
    monkeypatch.setenv("RLXFORM_PROCESS_ID", "-1")
    with pytest.raises(InputError, match=r"RLXFORM_PROCESS_ID=-1 is invalid"):
        initialize_distributed()


def test_simulate_killed_before_its_summary_leaves_no_stale_summary(tmp_path, monkeypatch):
    """A rerun into the same --out wrote the table, then summary.json, then the figure: killed
    in between, the new table stood next to the old run's summary (or figure)."""
    from rlxform.reproduce import simulate_run

    config = simulate_run.SimulateConfig(SimConfig("grpo", group_size=4), HParams(0.1), seeds=1)
    table = {"step": np.arange(2), "mean_p": np.array([0.5, 0.6])}
    numbers = {"max_abs_dev": 0.0}
    monkeypatch.setattr(simulate_run, "simulate_and_compare", lambda c: (table, numbers, None))
    monkeypatch.setattr(simulate_run, "simulation_figure", lambda *args: None)
    (tmp_path / "summary.json").write_text(json.dumps({"config": {"scheme": "an earlier run"}}))

    def killed(fig, path):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate_run.run_simulation(config, tmp_path, save_figure=killed)
    assert (tmp_path / "trajectories.csv").exists()
    assert not (tmp_path / "summary.json").exists()
    result = simulate_run.run_simulation(config, tmp_path)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["config"]["scheme"] == result.summary["config"]["scheme"] != "an earlier run"


def test_experiment_killed_before_its_metadata_leaves_no_stale_metadata(tmp_path, monkeypatch):
    from rlxform.results import outputs

    (tmp_path / "exp.json").write_text('{"config": "an earlier run"}')

    def killed(fig, path, figure=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "save_figure", killed)
    with pytest.raises(KeyboardInterrupt):
        outputs.save_result("exp", {"a": 1}, {"x": np.arange(3)}, None, tmp_path, 0.0)
    assert (tmp_path / "exp.csv").exists() and not (tmp_path / "exp.json").exists()


def _raises_zero_division(p):
    return 1 / 0


API_CASES = [
    # plain ValueError (not InputError) from the sequence task and its enumeration
    ("verifier", lambda: _api().SequenceTask(3, 3, "nope"), "verifier='nope'"),
    ("match token", lambda: _api().SequenceTask(3, 3, "match:9"), "verifier='match:9'"),
    ("match text", lambda: _api().SequenceTask(3, 3, "match:a"), "verifier='match:a'"),
    ("enumerate", lambda: _api().enumerate_sequences(None), "task=None"),
    # AttributeError: 'NoneType' object has no attribute 'problem'
    ("make_simulate", lambda: _api().make_simulate(None), "cfg=None"),
    # JAX's "empty NamedSharding" ValueError; a string was taken for a list of devices
    ("no devices", lambda: _api().make_sweep(SimConfig("grpo"), devices=[]), "devices=[]"),
    ("devices str", lambda: _api().make_sweep(SimConfig("grpo"), devices="cpu"), "devices='cpu'"),
    # the user's h' raised ZeroDivisionError through design()
    ("design raises", lambda: _api().design(_raises_zero_division, 8), "ZeroDivisionError"),
    ("design shape", lambda: _api().design(lambda p: [1.0, 2.0], 8), "one real number per p"),
    # an empty learning-rate grid passed the check: a sweep of no runs
    ("empty lr grid", lambda: _check_hparams(HParams([])), "learning_rate=[]"),
]


def _api():
    import rlxform

    return rlxform


def _check_hparams(hparams):
    from rlxform.sim.hparams import check_hparams

    return check_hparams(hparams)


@pytest.mark.parametrize(
    ("call", "needle"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_api_bad_input_is_input_error(call, needle):
    with pytest.raises(InputError) as err:
        call()
    assert needle in str(err.value), str(err.value)


@pytest.mark.parametrize("extra", [["experiments/configs/verl_grpo.yaml"], ["--compare"]])
def test_explain_out_checked_before_the_card_is_printed(extra, tmp_path, capsys):
    """The card was printed, then ``out='...'`` (not the flag) was refused."""
    from pathlib import Path

    root = Path(__file__).parents[1]
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    argv = ["explain", *[str(root / e) if e.endswith(".yaml") else e for e in extra]]
    assert cli.main([*argv, "--out", str(blocker)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line_error(captured.err, [f"--out={str(blocker)!r}", "not a directory"])


@pytest.mark.parametrize(
    ("data", "needed"),
    [
        ({"kl_estimator": "k2"}, "kl_coef"),
        ({"kl_placement": "reward"}, "kl_coef"),
        ({"entropy_aggregation": "token-mean"}, "entropy_coef"),
    ],
)
def test_sweep_toml_setting_of_a_term_that_is_off_is_refused(data, needed):
    """Like the simulate flags: the sweep ran without the term and said nothing."""
    from rlxform.reproduce.sweep_config import parse_sweep_config

    ((key, value),) = data.items()
    with pytest.raises(InputError, match=f"{key}={value!r} is invalid without {needed}"):
        parse_sweep_config(data)
    assert getattr(parse_sweep_config({**data, needed: 0.1}).sim, key) is not None

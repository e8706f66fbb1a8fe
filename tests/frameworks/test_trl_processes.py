"""TRL's dapo / cispo / vespo normaliser spans the answers of every process the launcher starts.

TRL 1.16.0 divides by num_items_in_batch = accelerator.gather(loss_mask.sum()).sum(), the
completion tokens of the generation batch over all processes (trl/trainer/grpo_trainer.py:2498,
:3168-3173); bnpo, grpo and dr_grpo use the local micro-batch. accelerate's --num_processes is
the total over machines (accelerate 1.14.0 accelerate/commands/launch.py:198) and wins over the
config file's (:1274); torchrun starts --nproc-per-node x --nnodes; ``trl grpo`` passes the flags
its script does not take to accelerate (trl/cli/commands/training.py:60-71 in 1.16.0), and its
--accelerate_config NAME files set num_processes 8 (trl/accelerate_configs/*.yaml). Every
expected count below is per_device_train_batch_size 8 x steps_per_generation 4 x N answers,
in groups of num_generations 8.
"""

from __future__ import annotations

import pytest

from rlxform.explain.conclusions import normaliser_groups
from rlxform.frameworks import read_config

RUN = "--per_device_train_batch_size 8 --steps_per_generation 4 --num_generations 8".split()


def _read(launch: str, loss: str = "dapo", *more: str, framework: str | None = None):
    return read_config(launch.split() + RUN + ["--loss_type", loss, *more], framework=framework)


def _process_pitfalls(run) -> list[str]:
    return [p for p in run.pitfalls if "process" in p]


@pytest.mark.parametrize(
    ("launch", "processes"),
    [
        ("accelerate launch --num_processes 4 train.py", 4),
        ("accelerate launch --multi_gpu --num-processes=2 --num_machines 2 train.py", 2),  # total
        ("torchrun --nproc_per_node 8 --nnodes 2 train.py", 16),
        ("torchrun train.py", 1),  # --nproc-per-node 1, --nnodes 1:1 by default
        ("trl grpo --num_processes 2", 2),
        ("trl grpo --accelerate_config zero2", 8),
        ("trl grpo --accelerate_config single_gpu --num_processes 4", 1),  # distributed_type NO
        ("python train.py", 1),
    ],
)
def test_the_normaliser_counts_the_answers_of_every_process(launch, processes):
    run = _read(launch)
    assert run.normaliser.answers == 8 * 4 * processes
    assert normaliser_groups(run)[1] == 4 * processes  # 32 N answers / M = 8
    assert f"8 x 4 x {processes} answers" in run.normaliser.where
    assert _process_pitfalls(run) == [] and run.warnings == ()


def test_an_accelerate_config_file_gives_the_count_unless_the_flag_does(tmp_path):
    config = tmp_path / "acc.yaml"
    config.write_text("distributed_type: MULTI_GPU\nnum_machines: 1\nnum_processes: 3\n")
    run = _read(f"accelerate launch --config_file {config} train.py")
    assert (run.normaliser.answers, normaliser_groups(run)[1]) == (96, 12)
    run = _read(f"accelerate launch --config_file {config} --num_processes 2 train.py")
    assert run.normaliser.answers == 64  # the command line wins (launch.py:1274)


@pytest.mark.parametrize(
    ("launch", "named"),
    [
        ("accelerate launch --num_processes $NPROC train.py", "--num_processes $NPROC"),
        ("accelerate launch --multi_gpu train.py", "--multi_gpu given"),
        ("accelerate launch train.py", "default config file or counts the visible GPUs"),
        ("accelerate launch --config_file nowhere.yaml train.py", "nowhere.yaml, a file rlxform"),
        ("trl grpo", "without --num_processes or --config_file"),
    ],
)
def test_an_undetermined_process_count_is_named_with_its_assumption(launch, named):
    run = _read(launch)
    assert run.normaliser.answers == 32  # 1 process assumed, and said
    assert "on 1 process, an assumption" in run.normaliser.where and named in run.normaliser.where
    (pitfall,) = _process_pitfalls(run)
    assert "loss_type=dapo" in pitfall and named in pitfall and "assumes 1 process" in pitfall


def test_local_normalisers_do_not_depend_on_the_process_count():
    """bnpo: one device's micro-batch; grpo: 1/L; dr_grpo: 1/L_max (grpo_trainer.py:3153-3167)."""
    for launch in ("accelerate launch --num_processes 4 train.py", "accelerate launch train.py"):
        bnpo, grpo, dr = (_read(launch, loss) for loss in ("bnpo", "grpo", "dr_grpo"))
        assert bnpo.normaliser.answers == 8 and _process_pitfalls(bnpo) == []
        assert (grpo.normaliser.factor, dr.normaliser.factor) == ("1/L", "1/L_max")
        assert _process_pitfalls(dr) == []


def test_generation_batch_size_is_split_over_the_processes():
    """steps_per_generation = generation_batch_size / (per_device x processes)
    (trl/trainer/grpo_config.py:1101-1110 in 1.16.0): 256 / (8 x 4) = 8 steps."""
    words = "--per_device_train_batch_size 8 --num_generations 8 --generation_batch_size 256"
    run = read_config(f"accelerate launch --num_processes 4 train.py {words}".split())
    assert (run.updates_per_rollout, run.normaliser.answers) == (8, 256)
    assert _process_pitfalls(run) == []
    run = read_config(f"accelerate launch train.py {words}".split())
    assert run.updates_per_rollout == 32 and run.normaliser.answers == 256  # 1 process assumed
    assert any(p.startswith("generation_batch_size is set") for p in run.pitfalls)


def test_a_file_that_does_not_launch_the_run_says_the_count_is_set_elsewhere():
    run = read_config({"per_device_train_batch_size": 8, "steps_per_generation": 4}, "trl")
    assert run.normaliser.answers == 32 and _process_pitfalls(run) == []
    assert "times the processes the run is launched with" in run.normaliser.where


def test_unsloth_runs_trls_normaliser_over_the_processes():
    """unsloth_zoo 2026.10.9 rl_replacements.py:1233-1239: num_items_in_batch / num_processes."""
    run = _read("accelerate launch --num_processes 2 train.py", framework="unsloth")
    assert (run.framework, run.normaliser.answers) == ("unsloth", 64)


def test_a_shell_variable_count_is_named_as_unset(tmp_path):
    launcher = tmp_path / "run.sh"
    launcher.write_text("accelerate launch --num_processes=$NGPU train.py --loss_type dapo\n")
    (pitfall,) = _process_pitfalls(read_config(launcher))
    assert "--num_processes $NGPU ($NGPU not set in the file)" in pitfall


def test_rloo_normaliser_is_local_whatever_the_process_count():
    """TRL's RLOOTrainer gathers nothing for its loss: compute_loss drops num_items_in_batch
    (rloo_trainer.py:1789-1792 in 1.16.0, :1335-1338 in 0.22.2) and _compute_loss returns
    per_sequence_loss.mean() over the micro-batch's answers (:1833 in 1.16.0, :1367 in 0.22.2;
    every release between has the statement), which DDP averages over processes: each answer
    weighs the same for any process count, so no process factor (unlike GRPO's dapo above)."""
    runs = [
        read_config(f"accelerate launch --num_processes {n} -m trl.scripts.rloo".split()
                    + "--num_generations 4 --per_device_train_batch_size 8".split())
        for n in (1, 8)
    ]  # fmt: skip
    assert [r.framework for r in runs] == ["trl_rloo", "trl_rloo"]
    assert runs[0].normaliser == runs[1].normaliser
    assert (runs[1].normaliser.factor, runs[1].normaliser.answers) == ("1", None)
    assert not _process_pitfalls(runs[1])

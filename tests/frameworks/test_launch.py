"""Launch files read as the shell would read them: the example launchers, then shell features.

Expectations are written by hand from each file (and, for the shell, from bash's rules);
nothing here imports JAX.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlxform.frameworks.launch import (
    Unresolved,
    argparse_flags,
    hydra_overrides,
    read_command_line,
    read_launch_text,
)
from rlxform.parsing import MAX_SCRIPT_BYTES, read_text
from rlxform.validation import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "experiments" / "configs" / "launch"


def _read(name: str):
    path = EXAMPLES / name
    return read_launch_text(read_text(path, what="launch script"), str(path))


def _one(text: str):
    (command,) = read_launch_text(text, "t.sh")
    return command


# ---- the example launchers -------------------------------------------------------------------


def test_verl_grpo_launcher():
    (cmd,) = _read("verl_grpo_gsm8k.sh")
    assert (cmd.index, cmd.line, cmd.program, cmd.launcher) == (
        1,
        17,
        "verl.trainer.main_ppo",
        "python",
    )
    assert cmd.unresolved == () and cmd.wrappers == () and not cmd.conditional
    settings, deleted = hydra_overrides(cmd)
    assert deleted == ()
    expected = {
        "algorithm.adv_estimator": "grpo",
        "algorithm.use_kl_in_reward": False,
        "data.train_files": "/data/gsm8k/train.parquet",  # ${DATA_DIR:-/data/gsm8k}
        "data.train_batch_size": 1024,
        "data.truncation": "error",
        "actor_rollout_ref.actor.optim.lr": 1e-6,
        "actor_rollout_ref.actor.ppo_mini_batch_size": 256,  # $((1024 / 4))
        "actor_rollout_ref.actor.use_kl_loss": True,
        "actor_rollout_ref.actor.kl_loss_coef": 0.001,  # written 1e-3
        "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
        "actor_rollout_ref.actor.entropy_coeff": 0,
        "actor_rollout_ref.rollout.n": 5,
        "trainer.logger": ["console", "wandb"],
        "trainer.project_name": "rlxform_examples",
        "trainer.total_epochs": 15,  # the trailing comment is not an argument
    }
    assert {k: settings[k] for k in expected} == expected
    assert len(settings) == 27 and cmd.args[-1] == "trainer.total_epochs=15"


def test_verl_dapo_recipe_launcher():
    (cmd,) = _read("verl_dapo_recipe.sh")
    assert (cmd.line, cmd.program, cmd.wrappers) == (
        29,
        "recipe.dapo.main_dapo",
        ("ray job submit",),
    )
    # $HOME feeds the data paths; ray's own --runtime-env is not the program's
    assert cmd.unresolved == ("$HOME",)
    settings, _ = hydra_overrides(cmd)
    overlong = "reward_model.reward_kwargs.overlong_buffer_cfg."
    expected = {
        "data.max_prompt_length": 2048,
        "data.max_response_length": 20480,  # $((1024 * 20))
        "data.gen_batch_size": 1536,  # $((prompts_per_step * 3))
        "data.train_batch_size": 512,
        "actor_rollout_ref.rollout.n": 16,
        "actor_rollout_ref.actor.ppo_mini_batch_size": 32,
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": 22528,
        "actor_rollout_ref.actor.clip_ratio_low": 0.2,
        "actor_rollout_ref.actor.clip_ratio_high": 0.28,
        "actor_rollout_ref.actor.loss_agg_mode": "token-mean",
        "actor_rollout_ref.model.override_config.attention_dropout": 0.0,  # written 0.
        "algorithm.filter_groups.enable": True,
        "algorithm.filter_groups.metric": "acc",
        "algorithm.filter_groups.max_num_gen_batches": 10,
        "algorithm.kl_ctrl.kl_coef": 0.0,
        overlong + "enable": True,
        overlong + "len": 4096,
        overlong + "penalty_factor": 1.0,
        overlong + "log": False,
        "reward_model.reward_kwargs.max_resp_len": 20480,
        "trainer.logger": ["console", "wandb"],
        "trainer.nnodes": 8,  # "${NNODES}" with NNODES=${NNODES:-8}
        "trainer.val_before_train": True,  # +trainer.val_before_train
    }
    assert {k: settings[k] for k in expected} == expected
    train_files = settings["data.train_files"]
    assert isinstance(train_files, Unresolved) and train_files.names == ("$HOME",)
    assert train_files == "${HOME}/dapo/dapo-math-17k.parquet"


def test_openrlhf_0_11_launcher_with_arrays():
    (cmd,) = _read("openrlhf_grpo_0.11.sh")
    assert (cmd.line, cmd.program, cmd.launcher) == (53, "openrlhf.cli.train_ppo_ray", "python")
    assert cmd.wrappers == ("ray job submit",)
    assert cmd.unresolved == ('$(dirname "$0")',)  # SCRIPT_DIR, in --ckpt.output_dir
    flags = argparse_flags(cmd, multi_value=["algo.dynamic_filtering_range"])
    expected = {
        "algo.advantage.estimator": "group_norm",
        "rollout.n_samples_per_prompt": "8",
        "rollout.batch_size": "128",
        "train.batch_size": "128",
        "train.max_epochs": "1",
        "algo.kl.use_loss": True,
        "algo.kl.estimator": "k3",
        "algo.kl.init_coef": "1e-3",
        "algo.dynamic_filtering_enable": True,
        "algo.dynamic_filtering_range": ["0", "1"],
        "actor.eps_clip_low_high": ["0.2", "0.28"],  # two values: a list without being told
        "train.colocate_all": True,
        "ds.packing_samples": True,
        "data.apply_chat_template": True,
    }
    assert {k: flags[k] for k in expected} == expected
    assert "rollout.temperature" not in flags  # commented out inside the array
    assert flags["ckpt.output_dir"].names == ('$(dirname "$0")',)
    assert len(flags) == 32


def test_openrlhf_flat_names_launcher():
    (cmd,) = _read("openrlhf_reinforce_baseline_0.9.sh")
    assert (cmd.line, cmd.program, cmd.wrappers, cmd.unresolved) == (
        9,
        "openrlhf.cli.train_ppo_ray",
        ("ray job submit",),
        (),
    )
    flags = argparse_flags(cmd)
    expected = {
        "advantage_estimator": "reinforce_baseline",
        "n_samples_per_prompt": "8",
        "rollout_batch_size": "128",
        "train_batch_size": "1024",
        "micro_train_batch_size": "1",
        "max_epochs": "1",
        "init_kl_coef": "1e-5",
        "use_kl_loss": True,
        "kl_estimator": "k2",
        "bf16": True,
        "colocate_all_models": True,
        "gradient_checkpointing": True,
    }
    assert {k: flags[k] for k in expected} == expected and len(flags) == 31


def test_openrlhf_arguments_read_from_a_here_document():
    (cmd,) = _read("openrlhf_ppo_deepspeed_0.6.sh")
    assert (cmd.line, cmd.program, cmd.launcher, cmd.launcher_args) == (
        39,
        "openrlhf.cli.train_ppo",
        "deepspeed",
        ("--module",),
    )
    assert cmd.conditional and cmd.unresolved == ()  # runs unless $1 is "slurm"
    flags = argparse_flags(cmd)
    expected = {
        "pretrain": "OpenRLHF/Llama-3-8b-sft-mixture",  # $MODEL inside the here-document
        "reward_pretrain": "OpenRLHF/Llama-3-8b-rm-mixture",
        "rollout_batch_size": "1024",
        "train_batch_size": "128",
        "init_kl_coef": "0.01",
        "normalize_reward": True,
        "gradient_checkpointing": True,
    }
    assert {k: flags[k] for k in expected} == expected and len(flags) == 20
    assert "packing_samples" not in flags  # a comment after the here-document


def test_read_from_here_documents_and_strings():
    text = (
        "X=5\ncat <<EOF > f.txt\npython3 -m inside.heredoc $X\nEOF\n"
        "read -r -d '' A <<'EOF'\n  $X \\\n lit\nEOF\n"
        'read B <<< "one two"\nread -ra ARR <<< "p q r"\nread C D <<< \'a b c\'\nread E\n'
        'python t.py --a "$A" --b "$B" --c ${ARR[2]} --d $C --e $D --f $E\n'
    )
    (cmd,) = read_launch_text(text, "t.sh")  # the first here-document's body is not run
    flags = argparse_flags(cmd)
    assert flags["a"] == "$X \\\n lit"  # quoted delimiter: no expansion; -r: backslash kept
    assert (flags["b"], flags["c"], flags["d"], flags["e"]) == ("one two", "r", "a", ["b", "c"])
    assert flags["f"].names == ("$E",)  # read from the terminal: unknown


def test_trl_accelerate_launcher():
    (cmd,) = _read("trl_accelerate_grpo.sh")
    assert (cmd.line, cmd.program, cmd.launcher) == (16, "train_grpo.py", "accelerate launch")
    assert cmd.launcher_args == (
        "--config_file",
        "examples/accelerate_configs/deepspeed_zero2.yaml",
        "--num_processes",
        "4",
    )
    assert cmd.env == (("ACCELERATE_LOG_LEVEL", "info"),)
    flags = argparse_flags(cmd)
    expected = {
        "num_generations": "8",
        "per_device_train_batch_size": "8",
        "gradient_accumulation_steps": "2",
        "steps_per_generation": "4",
        "loss_type": "dapo",
        "scale_rewards": "group",
        "beta": "0.0",
        "use_vllm": True,
        "vllm_mode": "colocate",
        "bf16": True,
        "report_to": "none",  # "2>&1 | tee ..." is not an argument
    }
    assert {k: flags[k] for k in expected} == expected and len(flags) == 19


def test_trl_cli_launcher_skips_the_vllm_server():
    (cmd,) = _read("trl_cli_dr_grpo.sh")  # `trl vllm-serve ... &` is not a launch
    assert (cmd.index, cmd.line, cmd.program, cmd.launcher) == (1, 13, "trl grpo", "trl")
    assert cmd.env == (("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6"),)
    flags = argparse_flags(cmd)
    assert flags["model_name_or_path"] == "Qwen/Qwen2.5-Math-1.5B"  # "$MODEL"
    assert (flags["loss_type"], flags["scale_rewards"], flags["num_generations"]) == (
        "dr_grpo",
        "none",
        "16",
    )
    assert flags["reward_funcs"] == "accuracy_reward" and flags["use_vllm"] is True


def test_two_launch_commands_numbered():
    first, second = _read("verl_two_runs.sh")  # pip, export, wandb login, mkdir are not launches
    assert (first.index, first.line, first.program) == (1, 16, "examples/data_preprocess/gsm8k.py")
    assert first.unresolved == ("~",)  # ~/data/gsm8k: the home directory is not in the file
    assert (second.index, second.line, second.program) == (2, 18, "verl.trainer.main_ppo")
    settings, _ = hydra_overrides(second)
    assert settings["algorithm.adv_estimator"] == "rloo"
    assert settings["algorithm.kl_ctrl.kl_coef"] == 0.001
    # bash expands ~ after "=" only in NAME=value words; data.train_files is not a NAME
    assert settings["data.train_files"] == "~/data/gsm8k/train.parquet"


def test_unresolved_variables_are_named_not_guessed():
    (cmd,) = _read("verl_unresolved.sh")
    assert cmd.unresolved == ("$MODEL_PATH", "$1", "$(date +%Y%m%d)", "$@")
    settings, _ = hydra_overrides(cmd)
    assert settings["actor_rollout_ref.actor.optim.lr"] == 1e-6  # ${LR:-1e-6}: the default
    group = settings["actor_rollout_ref.rollout.n"]
    assert isinstance(group, Unresolved) and group.names == ("$1",) and group == "$n_resp"
    assert settings["actor_rollout_ref.model.path"].names == ("$MODEL_PATH",)
    assert settings["trainer.experiment_name"].names == ("$(date +%Y%m%d)",)
    assert cmd.args[-1] == "$@" and cmd.args[-1].whole  # "$@" may be any number of words


# ---- shell features --------------------------------------------------------------------------


def test_continuations_quotes_and_comments():
    cmd = _one(
        "# a comment line\n"
        "python3 -m pkg.main a=1 \\\n"
        "   b='x y'  c=\"two words\" \\\n"
        "   d=it\\'s e=#not-a-comment # a comment\n"
    )
    assert cmd.line == 2 and cmd.program == "pkg.main"
    assert cmd.args == ("a=1", "b=x y", "c=two words", "d=it's", "e=#not-a-comment")


def test_a_commented_line_ends_a_continued_command():
    text = "python3 -m pkg.main a=1 \\\n# b=2 \\\n  c=3\n"
    cmd = _one(text)  # bash ends the command at the comment; "c=3" is then an assignment
    assert cmd.args == ("a=1",)


def test_variables_in_order_of_assignment():
    text = (
        "A=3\nexport B=4\nC=${A}0/x\nA=5\n"
        "D=${UNSET_IN_FILE:-dflt} E=${EMPTY-dash} F=${EMPTY:-colon}\nEMPTY=\n"
        "G=${EMPTY-kept}${EMPTY:-replaced}\n"
        "python t.py --a $A --b $B --c $C --d $D --g $G --m $((A * B / 2)) --n $((-7 / 2))\n"
    )
    flags = argparse_flags(_one(text))
    assert flags == {
        "a": "5",
        "b": "4",
        "c": "30/x",
        "d": "dflt",
        "g": "replaced",
        "m": "10",
        "n": "-3",  # bash truncates toward zero
    }


def test_arithmetic_matches_bash():
    text = (
        "X=7\nY='X * 2'\n"
        "python t.py --p $((2 ** 10)) --q $((X % 4)) --r $((Y + 1)) --s $(( (1 << 4) | 1 ))"
        " --t $((X > 3 ? 1 : 0)) --u $((2 ** 64)) --v $((9223372036854775807 + 1)) --w $((010))\n"
    )
    flags = argparse_flags(_one(text))
    assert flags == {
        "p": "1024",
        "q": "3",
        "r": "15",  # a variable holding an expression is evaluated
        "s": "17",
        "t": "1",
        "u": "0",  # 64-bit wrap-around
        "v": "-9223372036854775808",
        "w": "8",  # a leading zero is octal
    }


def test_environment_positional_and_command_substitution_stay_open():
    cmd = _one('python t.py --a $HOME/x --b ${2} --c "$(date +%s)" --d `hostname` --e $((Z + 1))\n')
    flags = argparse_flags(cmd)
    assert flags["a"].names == ("$HOME",) and flags["a"] == "$HOME/x"
    assert flags["b"].names == ("$2",)
    assert flags["c"].names == ("$(date +%s)",)
    assert flags["d"].names == ("`hostname`",)
    assert flags["e"].names == ("$Z",)
    assert cmd.unresolved == ("$HOME", "$2", "$(date +%s)", "`hostname`", "$Z")


def test_field_splitting_and_arrays():
    text = (
        'OPTS="--x 1 --y 2"\nARR=(--p "a b" --q)\nARR+=(--r 3)\n'
        'python t.py $OPTS "$OPTS" "${ARR[@]}" ${#ARR[@]} ${ARR[1]}\n'
    )
    cmd = _one(text)
    assert " | ".join(cmd.args) == (
        "--x | 1 | --y | 2 | --x 1 --y 2 | --p | a b | --q | --r | 3 | 5 | a | b"
    )  # "$OPTS" stays one word; unquoted ${ARR[1]} is split, as bash does


def test_brace_expansion_like_bash():
    cmd = _one("python3 -m m +a={x:1,y:2} b=f{1..3} '+c={x:1,y:2}'\n")
    assert cmd.args == ("+a=x:1", "+a=y:2", "b=f1", "b=f2", "b=f3", "+c={x:1,y:2}")
    settings, _ = hydra_overrides(cmd.args[-1:])
    assert settings == {"c": {"x": 1, "y": 2}}


def test_assignments_in_branches_are_not_guessed():
    text = (
        'N=4\nif [ -n "$BIG" ]; then\n  N=16\n  python t.py --inside $N\nelse\n  N=8\nfi\n'
        '[ -z "$M" ] && M=2\n( S=9 )\nK=1\ncase $X in a) K=2 ;; esac\n'
        "for seed in 1 2; do python t.py --seed $seed; done\n"
        "python t.py --n $N --m $M --s ${S:-unset} --k $K\n"
    )
    inside, loop, last = read_launch_text(text, "t.sh")
    assert inside.conditional and argparse_flags(inside) == {"inside": "16"}  # within its branch
    assert loop.conditional and argparse_flags(loop)["seed"].names == ("$seed",)
    flags = argparse_flags(last)
    assert not last.conditional
    assert (
        flags["n"].names == ("$N",) and flags["m"].names == ("$M",) and flags["k"].names == ("$K",)
    )
    assert flags["s"] == "unset"  # a subshell's assignment does not leak


def test_tests_on_known_values_decide_their_branch():
    text = (
        "mode=async\n"
        'if [ "$mode" = "async" ]; then\n  raw=True\n  python t.py --then 1\n'
        'elif [ -n "$X" ]; then\n  raw=Maybe\nelse\n  raw=False\n  python t.py --never 1\nfi\n'
        '[ "$mode" == sync ] && Z=1 || Z=2\n'
        'if [ "$mode" = async ] && [ -f x ]; then W=3; fi\n'
        "n=8\nif [ $n -ge 4 ]; then N=big; else N=small; fi\n"
        "if [[ $n -lt 4 ]]; then exit 1; fi\n"
        "python t.py --raw $raw --z $Z --w ${W:-none} --n $N\n"
    )
    inside, last = read_launch_text(text, "t.sh")  # the skipped else branch launches nothing
    assert not inside.conditional and argparse_flags(inside) == {"then": "1"}
    flags = argparse_flags(last)
    assert (flags["raw"], flags["z"], flags["n"]) == ("True", "2", "big")
    assert flags["w"].names == ("$W",)  # "&& [ -f x ]": the file system decides: left open
    assert not last.conditional


def test_redirections_heredocs_and_exit():
    text = (
        "cat > cfg.txt <<EOF\npython3 -m inside.heredoc\nEOF\n"
        "nohup python3 -u -m pkg.train a=1 > out.log 2>&1 &\n"
        "python3 -m pkg.other b=2 | tee log.txt\n"
        "exit 0\npython3 -m never.runs\n"
    )
    first, second = read_launch_text(text, "t.sh")
    assert (first.program, first.args, first.wrappers, first.launcher_args) == (
        "pkg.train",
        ("a=1",),
        ("nohup",),
        ("-u",),
    )
    assert (second.program, second.args, second.line) == ("pkg.other", ("b=2",), 5)


@pytest.mark.parametrize(
    "line, program, launcher, launcher_args, args",
    [
        ("torchrun --nproc_per_node=4 -m RL2.trainer.ppo a=1", "RL2.trainer.ppo", "torchrun",
         ("--nproc_per_node=4", "-m"), ("a=1",)),
        ("deepspeed --module openrlhf.cli.train_ppo --bf16", "openrlhf.cli.train_ppo", "deepspeed",
         ("--module",), ("--bf16",)),
        ("deepspeed --num_gpus 8 train.py --x 1", "train.py", "deepspeed", ("--num_gpus", "8"),
         ("--x", "1")),
        ("python -m torch.distributed.run --nproc-per-node 2 t.py --x 1", "t.py", "torchrun",
         ("--nproc-per-node", "2"), ("--x", "1")),
        ("accelerate launch --multi_gpu --num_processes 2 -m trl.scripts.grpo --x 1",
         "trl.scripts.grpo", "accelerate launch", ("--multi_gpu", "--num_processes", "2", "-m"),
         ("--x", "1")),
        ("srun -N 2 --ntasks=8 python train.py --x 1", "train.py", "python", (), ("--x", "1")),
        ("uv run --with trl accelerate launch t.py --x 1", "t.py", "accelerate launch", (),
         ("--x", "1")),
        ("python -m trl grpo --x 1", "trl grpo", "trl", (), ("--x", "1")),
        ("./train_grpo.py --x 1", "./train_grpo.py", "script", (), ("--x", "1")),
        ("env CUDA_VISIBLE_DEVICES=0 python3 -W ignore -m a.b c=1", "a.b", "python",
         ("-W", "ignore"), ("c=1",)),
    ],
)  # fmt: skip
def test_launchers_and_wrappers(line, program, launcher, launcher_args, args):
    cmd = _one(line + "\n")
    assert (cmd.program, cmd.launcher, cmd.launcher_args, cmd.args) == (
        program,
        launcher,
        launcher_args,
        args,
    )


@pytest.mark.parametrize(
    "text",
    [
        "set -x\npip install -e .\nexport X=1\nmkdir -p out\nwandb login\n",
        "python -m pip install trl\npython -c 'print(1)'\npython setup.py install\n",
        "trl vllm-serve --model Qwen/Qwen2.5-0.5B &\ntrl env\naccelerate config\n",
        "# python3 -m verl.trainer.main_ppo a=1\necho python3 -m verl.trainer.main_ppo\n",
        "",
    ],
)
def test_scripts_that_launch_nothing(text):
    assert read_launch_text(text, "t.sh") == ()


@pytest.mark.parametrize(
    "text, where, what",
    [
        ("A=1\npython t.py --a 'unclosed\n", "line 2, column 17", "single quote"),
        ('python t.py --a "unclosed\n\n', "line 1, column 17", "double quote"),
        ("python t.py --a $(date\n", "line 1", "command substitution"),
        ("python t.py --a ${X:-1\n", "line 1, column 17", "${"),
        ("python t.py --a `date\n", "line 1, column 17", "backtick"),
        ("ARR=(a b\n", "line 1", "array"),
    ],
)
def test_unbalanced_quotes_give_one_line(text, where, what):
    with pytest.raises(InputError) as err:
        read_launch_text(text, "bad.sh")
    message = str(err.value)
    assert message.startswith("bad.sh: " + where) and what in message and "\n" not in message


def test_hostile_shell_text_fails_fast():
    cases = [
        "X=" + "${X:-" * 5000 + "1" + "}" * 5000 + "\n",  # nested expansions
        "A=x\n" + "A=$A$A\n" * 40 + "python t.py $A\n",  # doubling values
        "python t.py " + "{a,b}" * 30 + "\n",  # brace expansion explosion
        "x" * (MAX_SCRIPT_BYTES + 1),  # beyond the size limit
    ]
    for text in cases:
        start = time.perf_counter()
        with pytest.raises(InputError) as err:
            read_launch_text(text, "hostile.sh")
        assert time.perf_counter() - start < 5 and "\n" not in str(err.value)
    deep = "python t.py --n $((" + "(" * 5000 + "1" + ")" * 5000 + "))\n"
    (cmd,) = read_launch_text(deep, "deep.sh")  # too deep to evaluate: left open, not a crash
    assert cmd.unresolved and cmd.unresolved[0].startswith("$((")


# ---- command lines ---------------------------------------------------------------------------


def test_read_command_line():
    cmd = read_command_line(
        ["CUDA_VISIBLE_DEVICES=0", "python3", "-m", "openrlhf.cli.train_ppo_ray", "--a.b", "1"]
    )
    assert (cmd.index, cmd.line, cmd.program, cmd.args) == (
        1,
        1,
        "openrlhf.cli.train_ppo_ray",
        ("--a.b", "1"),
    )
    assert cmd.env == (("CUDA_VISIBLE_DEVICES", "0"),) and cmd.unresolved == ()
    quoted = read_command_line(["python3 -m verl.trainer.main_ppo a.b=2 'c=x y'"])
    assert (quoted.program, quoted.args) == ("verl.trainer.main_ppo", ("a.b=2", "c=x y"))
    with pytest.raises(InputError, match=r"command='ls -l' is invalid: expected a launch command"):
        read_command_line(["ls", "-l"])


# ---- program arguments -----------------------------------------------------------------------


def test_hydra_values_follow_the_override_grammar():
    args = [
        "a=1", "b=1e-3", "c=1.0e-6", "d=.5", "e=0.", "f=-inf", "g=True", "h=NULL",
        "i=[a, 'b c', 2]", "j={x: 1, y: [1, 2]}", "k='1e-3'", "l=1_000", "m=", "n=hello world",
        "o=${data.x}",
        "p=1e-06", "q=int(3)", "r=+2", "s=5E+2", "hydra.run.dir=out/${now:%H}",
    ]  # fmt: skip
    settings, deleted = hydra_overrides(args)
    assert settings == {
        "a": 1, "b": 0.001, "c": 1e-6, "d": 0.5, "e": 0.0, "f": float("-inf"), "g": True,
        "h": None, "i": ["a", "b c", 2], "j": {"x": 1, "y": [1, 2]}, "k": "1e-3", "l": 1000,
        "m": "", "n": "hello world", "o": "${data.x}",
        "p": "1e-06",  # "06" is no INT_UNSIGNED in Hydra's lexer: the value stays a string
        "q": 3, "r": 2, "s": 500.0, "hydra.run.dir": "out/${now:%H}",
    }  # fmt: skip
    assert deleted == ()


def test_hydra_prefixes_deletions_and_flags():
    settings, deleted = hydra_overrides(
        [
            "--config-path=config", "--config-name", "dapo_trainer", "+a.b=1", "++c=2", "~d",
            "~e=3", "f={x: 1}", "+f={y: 2}", "g=1", "g=2", "~g", "h=0", "~h", "h=4",
            Unresolved("$@", ("$@",), whole=True),
        ]
    )  # fmt: skip
    assert settings == {"a.b": 1, "c": 2, "f": {"x": 1, "y": 2}, "h": 4}
    assert deleted == ("d", "e", "g")


@pytest.mark.parametrize(
    "word, problem",
    [
        ("a=x,y", "comma outside brackets"),
        ("not_an_override", "expected a Hydra override"),
        ("--lr=1", "expected a Hydra override"),
        ("a=[1,2", "expected ',' or ']'"),
        ("a=" + "[" * 40 + "]" * 40, "nested more than 32"),
        ("a='open", "unterminated quoted value"),
    ],
)
def test_hydra_refuses_what_hydra_refuses(word, problem):
    with pytest.raises(InputError, match=problem) as err:
        hydra_overrides([word])
    assert "\n" not in str(err.value)


def test_argparse_flags():
    args = [
        "pos", "--a.b", "1", "--c-d=x=y", "--bare", "--multi", "0", "1", "--neg", "-1e-3",
        "--range", "-10", "10", "--one", "v", "--one", "w", "--store", "--e", "$X", "--",
        "--after",
    ]  # fmt: skip
    flags = argparse_flags(args, multi_value=["multi", "single-list"], store_true=["store"])
    assert flags == {
        "a.b": "1",
        "c_d": "x=y",
        "bare": True,
        "multi": ["0", "1"],
        "neg": "-1e-3",
        "range": ["-10", "10"],
        "one": "w",  # the last value wins, as in argparse
        "store": True,
        "e": "$X",
        "__positional__": ["pos", "--after"],
    }
    assert argparse_flags(["--single-list", "3"], multi_value=["single_list"]) == {
        "single_list": ["3"]
    }


def test_argparse_flags_with_open_words():
    cmd = _one('python t.py --bf16 $EXTRA --lr 1e-6 $MORE --model "$M"\n')
    flags = argparse_flags(cmd, store_true=["bf16"])
    assert flags == {"bf16": True, "lr": "1e-6", "model": "$M"}  # $EXTRA, $MORE: not values
    assert flags["model"].names == ("$M",)
    assert cmd.unresolved == ("$EXTRA", "$MORE", "$M")


def test_modules_import_no_jax():
    code = (
        "import sys, types\n"
        f"root = {str(ROOT)!r}\n"
        "for name in ('rlxform', 'rlxform.frameworks'):\n"  # skip package __init__ files
        "    pkg = types.ModuleType(name)\n"
        "    pkg.__path__ = [root + '/' + name.replace('.', '/')]\n"
        "    sys.modules[name] = pkg\n"
        "import rlxform.parsing, rlxform.frameworks.launch, rlxform.frameworks.pyfile\n"
        "import rlxform.frameworks.notebook\n"
        "heavy = [m for m in ('jax', 'flax', 'optax', 'matplotlib') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

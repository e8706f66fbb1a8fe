"""TRL configs in Python files and notebooks, read with ast (never imported or run).

Expectations are written by hand from each file; nothing here imports JAX.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlxform.frameworks.notebook import read_notebook
from rlxform.frameworks.pyfile import PythonConfig, RewardFuncs, read_python
from rlxform.parsing import read_text
from rlxform.validation import InputError

EXAMPLES = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "launch"


def _one(text: str) -> PythonConfig:
    (config,) = read_python(text, "t.py")
    return config


# ---- the example files -----------------------------------------------------------------------


def test_trl_script():
    path = EXAMPLES / "trl_grpo_config.py"
    (config,) = read_python(read_text(path, what="python"), str(path))
    assert (config.call, config.line, config.trainer) == ("GRPOConfig", 37, "GRPOTrainer")
    assert config.settings == {
        "learning_rate": 1e-6,
        "per_device_train_batch_size": 16,  # PROMPTS_PER_DEVICE * GROUP_SIZE
        "gradient_accumulation_steps": 4,
        "num_generations": 8,
        "max_prompt_length": 256,
        "max_completion_length": 768,  # MAX_TOTAL - MAX_PROMPT
        "beta": 0.04,
        "loss_type": "bnpo",
        "epsilon": 0.2,
        "epsilon_high": 0.28,
        "reward_weights": [1.0, 0.2],
        "logging_steps": 10,
        "bf16": True,
    }
    assert config.unresolved == ("output_dir (= f'runs/{run_name}')", "seed (= len(run_name))")
    assert config.imports == ("re", "datasets", "trl")
    assert config.reward_funcs == RewardFuncs(
        line=54, names=("correct_answer", "well_formatted"), count=2, weights=(1.0, 0.2)
    )


def test_unsloth_script():
    path = EXAMPLES / "unsloth_grpo.py"
    (config,) = read_python(read_text(path, what="python"), str(path))
    assert config.imports == ("unsloth", "torch", "trl")  # unsloth: explained as Unsloth
    assert (config.line, config.trainer) == (48, "GRPOTrainer")
    expected = {
        "learning_rate": 5e-6,
        "num_generations": 6,
        "per_device_train_batch_size": 6,
        "gradient_accumulation_steps": 1,
        "max_prompt_length": 256,
        "max_completion_length": 768,
        "max_steps": 300,  # steps = 250; steps += 50
        "save_steps": 300,
        "use_vllm": True,
    }
    assert {k: config.settings[k] for k in expected} == expected and len(config.settings) == 19
    assert config.unresolved == (
        "bf16 (= is_bfloat16_supported())",
        "fp16 (= not is_bfloat16_supported())",
    )
    rewards = config.reward_funcs
    assert rewards.count == 3 and rewards.weights is None and rewards.line == 72
    assert rewards.names == ("xml_tags_reward", "integer_answer_reward", "correctness_reward")


def test_unsloth_notebook():
    path = EXAMPLES / "unsloth_grpo.ipynb"
    notebook = read_notebook(read_text(path, what="notebook"), str(path))
    (config,) = notebook.configs
    assert (config.cell, config.line) == (5, 1)  # the fifth cell, markdown included
    assert config.imports == ("unsloth", "trl")  # `!pip install unsloth` is not an import
    assert config.settings == {
        "learning_rate": 5e-6,
        "num_generations": 4,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 2,
        "max_prompt_length": 512,  # bound in cell 3
        "max_completion_length": 1536,
        "output_dir": "outputs",
    }
    assert config.unresolved == ("bf16 (= is_bfloat16_supported())",)
    assert config.reward_funcs.names == ("format_reward", "answer_reward")
    assert config.reward_funcs.line == 11
    (command,) = notebook.commands  # the !pip lines launch nothing
    assert (command.index, command.cell, command.line) == (1, 7, 2)
    assert (command.program, command.launcher) == ("train_grpo.py", "accelerate launch")
    assert command.args == ("--learning_rate", "{lr}", "--num_generations", "4", "--bf16")
    assert command.unresolved == ("{lr}",)  # IPython substitutes the Python value


# ---- what is read and what is left open ------------------------------------------------------


def test_names_bound_in_execution_order():
    config = _one(
        "from trl import GRPOConfig as Config\n"
        "A = 2\nB = A * 3\nB += 1\nC = [1, 2] + [3]\nD = {'lr': 1e-6, 'n': (4, 5)}\n"
        "E = 2 ** 3 // 3 - -1\nF = 'a' + 'b'\nG = D['n'][1]\n"
        "cfg = Config(a=A, b=B, c=C, d=D, e=E, f=F, g=G, h=None, i=True, j=-1e-3)\n"
        "A = 100\n"
    )
    assert config.call == "GRPOConfig"  # through the import alias
    assert config.settings == {
        "a": 2,
        "b": 7,
        "c": [1, 2, 3],
        "d": {"lr": 1e-6, "n": (4, 5)},
        "e": 3,
        "f": "ab",
        "g": 5,
        "h": None,
        "i": True,
        "j": -1e-3,
    }


def test_calls_fstrings_branches_and_parameters_stay_open():
    config = _one(
        "import os, trl\n"
        "if os.environ.get('BIG'):\n    n = 16\nelse:\n    n = 8\n"
        "lr = float(os.environ['LR'])\n"
        "def build(beta=0.04):\n"
        "    return trl.GRPOConfig(num_generations=n, learning_rate=lr, beta=beta,\n"
        "                          output_dir=f'out/{n}', x=os.sep, y=[i for i in range(3)],\n"
        "                          z=unknown_name)\n"
    )
    assert config.settings == {}
    assert config.unresolved == (
        "num_generations (= n, set in an if/loop/try branch)",
        "learning_rate (= lr = float(os.environ['LR']))",
        "beta (= beta, a function parameter)",
        "output_dir (= f'out/{n}')",
        "x (= os.sep)",
        "y (= [i for i in range(3)])",
        "z (= unknown_name)",
    )
    assert config.imports == ("os", "trl") and config.reward_funcs is None


def test_main_guard_and_with_blocks_run_in_order():
    config = _one(
        "from trl import RLOOConfig\n"
        "if __name__ == '__main__':\n    k = 4\n    with open('x') as f:\n        lr = 3e-6\n"
        "    cfg = RLOOConfig(num_generations=k, learning_rate=lr, handle=f)\n"
    )
    assert config.call == "RLOOConfig"
    assert config.settings == {"num_generations": 4, "learning_rate": 3e-6}
    assert config.unresolved == ("handle (= f, a with target)",)


def test_double_star_literal_dicts():
    config = _one(
        "from trl import GRPOConfig\n"
        "common = {'beta': 0.0, 'loss_type': 'dr_grpo', 'run_name': str(1)}\n"
        "cfg = GRPOConfig('out', **common, **{'scale_rewards': False}, **extra)\n"
    )
    assert config.settings == {"beta": 0.0, "loss_type": "dr_grpo", "scale_rewards": False}
    assert config.unresolved == (
        "positional argument 1 (= 'out')",
        "run_name (= str(1))",
        "**extra",
    )


@pytest.mark.parametrize(
    "trainer_line, names, count, problem",
    [
        ("GRPOTrainer(model=m, reward_funcs=[f, g, 'org/rm'], args=cfg)",
         ("f", "g", "'org/rm'"), 3, None),
        ("GRPOTrainer(model=m, reward_funcs=funcs, args=cfg)", ("f", "g"), 2, None),
        ("GRPOTrainer(model=m, reward_funcs=f, args=cfg)", ("f",), 1, None),
        ("GRPOTrainer(m, 'org/reward-model', cfg)", ("'org/reward-model'",), 1, None),
        ("GRPOTrainer(model=m, reward_funcs=get_rewards(cfg), args=cfg)", (), None,
         "reward_funcs (= get_rewards(cfg))"),
        ("GRPOTrainer(model=m, args=cfg)", (), None, "reward_funcs (not given)"),
    ],
)  # fmt: skip
def test_reward_functions_of_the_trainer(trainer_line, names, count, problem):
    config = _one(
        "from trl import GRPOConfig, GRPOTrainer\n"
        "def f(completions, **kw): return [1.0]\n"
        "def g(completions, **kw): return [0.0]\n"
        "funcs = [f, g]\n"
        "cfg = GRPOConfig(reward_weights=[1.0, 0.5])\n" + trainer_line + "\n"
    )
    rewards = config.reward_funcs
    assert (rewards.names, rewards.count, rewards.unresolved) == (names, count, problem)
    assert rewards.weights == (1.0, 0.5) and rewards.line == 6 and config.trainer == "GRPOTrainer"


def test_each_config_gets_its_own_trainer():
    first, second = read_python(
        "from trl import GRPOConfig, GRPOTrainer\n"
        "a = GRPOConfig(beta=0.0)\nb = GRPOConfig(beta=0.04)\n"
        "GRPOTrainer(model=m, reward_funcs=[f], args=b)\n"
        "GRPOTrainer(model=m, reward_funcs=[f, g], args=a)\n",
        "t.py",
    )
    assert (first.settings, first.reward_funcs.count) == ({"beta": 0.0}, 2)
    assert (second.settings, second.reward_funcs.count) == ({"beta": 0.04}, 1)


def test_files_are_never_run(tmp_path):
    marker = tmp_path / "ran"
    text = (
        f"open({str(marker)!r}, 'w').write('x')\nimport os\nos.system('exit 3')\n"
        "from trl import GRPOConfig\nraise SystemExit(1)\ncfg = GRPOConfig(beta=0.1)\n"
    )
    assert _one(text).settings == {"beta": 0.1}
    assert not marker.exists()


def test_no_config_and_bad_python():
    assert read_python("import torch\nprint(1)\n", "t.py") == ()
    with pytest.raises(InputError, match=r"^t\.py: line 2, column 8: cannot read it as Python"):
        read_python("x = 1\nif x ==:\n    pass\n", "t.py")


def test_notebook_cells_and_magics():
    sources = [
        "%%capture\n!pip install trl\n",
        None,  # a markdown cell
        ["from trl import GRPOConfig\n", "k = 8\n", "%time x = 1\n"],
        "%%writefile run.sh\npython3 -m not.run a=1\n",
        "%%bash\nN=4\npython3 -m verl.trainer.main_ppo a.n=$N\n",
        "if k:\n    !python train.py --k {k}\n    cfg = GRPOConfig(num_generations=k)\n",
    ]
    cells = [
        {"cell_type": "markdown", "source": "text"}
        if s is None
        else {"cell_type": "code", "source": s}
        for s in sources
    ]
    notebook = read_notebook(json.dumps({"cells": cells, "nbformat": 4}), "nb.ipynb")
    (config,) = notebook.configs
    # k = 8 from cell 3 reaches the call inside the if block of cell 6
    assert (config.cell, config.line, config.settings) == (6, 3, {"num_generations": 8})
    assert config.unresolved == ()
    bash, bang = notebook.commands
    assert (bash.index, bash.cell, bash.line, bash.args) == (1, 5, 3, ("a.n=4",))
    assert (bang.index, bang.cell, bang.line, bang.program) == (2, 6, 2, "train.py")
    assert bang.unresolved == ("{k}",)


def test_a_notebook_cell_that_does_not_parse_is_left_out_and_named():
    cells = [
        {"cell_type": "code", "source": "from trl import GRPOConfig\nk = 4\n"},
        {"cell_type": "code", "source": "x = = 1\nk = 99\n"},
        {"cell_type": "code", "source": "cfg = GRPOConfig(num_generations=k)\n"},
    ]
    notebook = read_notebook(json.dumps({"cells": cells}), "nb.ipynb")
    (config,) = notebook.configs
    assert (config.cell, config.settings) == (3, {"num_generations": 4})
    assert notebook.skipped == (
        "nb.ipynb, cell 2: line 1, column 5: cannot read it as Python: invalid syntax",
    )


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[1, 2]", "expected a Jupyter notebook"),
        ("{" * 5000, "nested more than 100"),
    ],
)
def test_bad_notebooks(text, problem):
    with pytest.raises(InputError, match=problem) as err:
        read_notebook(text, "nb.ipynb")
    assert str(err.value).startswith("nb.ipynb") and "\n" not in str(err.value)

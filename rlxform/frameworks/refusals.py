"""What a trainer's own loader does with a key its release does not have, where it refuses one.

A launch command of the trainer's own entry point and a Python config-class call are read by
loaders that reject names they do not declare; the card then says the launch stops, not that
the key may change the update. Each sentence cites the loader's code:

- verl: ``@hydra.main(config_path="config", config_name="ppo_trainer")``
  (verl/trainer/main_ppo.py:29 in 0.4.1, :166 in 0.9.1) composes a struct config; an override
  ``key=value`` of a key it lacks raises "Could not override 'key'. To append to your config use
  +key=value" (hydra-core 1.3.8 hydra/_internal/config_loader_impl.py:389-395). A ``+key=value``
  appends the key and is not refused here.
- OpenRLHF: ``args = parser.parse_args()`` (openrlhf/cli/train_ppo_ray.py:434 in 0.6.4, :627 in
  0.11.2): argparse stops on unrecognized arguments (exit status 2). A word that abbreviates
  exactly one flag is read as that flag (argparse's allow_abbrev; TRL's parser too), so it is
  not refused here.
- TRL (GRPO and RLOO): its scripts parse flags with ``TrlParser.parse_args_and_config``
  (trl/scripts/grpo.py:91 in 0.14.0, :181 in 1.16.0; rloo.py:181 in 1.16.0), which calls
  ``HfArgumentParser.parse_args_into_dataclasses`` without remaining strings: a flag no
  dataclass declares raises "Some specified arguments are not used by the HfArgumentParser"
  (transformers 4.56.2 hf_argparser.py:367). ``GRPOConfig`` / ``RLOOConfig`` are dataclasses
  (trl/trainer/grpo_config.py:22, rloo_config.py:22 in 1.16.0): an unknown keyword raises
  TypeError. A ``--config`` YAML's unknown keys are not refused by the 1.16.0 scripts
  (``fail_with_unknown_args=False``), so keys of a config file get no refusal here.
"""

from __future__ import annotations

from typing import Any

_HYDRA = (
    "Hydra stops the launch before training: 'Could not override {key}' (verl composes a struct "
    "config, verl/trainer/main_ppo.py @hydra.main; hydra-core 1.3.8 "
    "hydra/_internal/config_loader_impl.py:389-395)"
)
_ARGPARSE = (
    "OpenRLHF's parser stops the launch: 'unrecognized arguments' (args = parser.parse_args(), "
    "openrlhf/cli/train_ppo_ray.py:627 in 0.11.2, :434 in 0.6.4)"
)
_HF = (
    "TRL's parser stops the launch: 'Some specified arguments are not used by the "
    "HfArgumentParser' (TrlParser.parse_args_and_config, trl/scripts/grpo.py:181 in 1.16.0, "
    ":91 in 0.14.0; hf_argparser.py:367 in transformers 4.56.2)"
)
_CALL = (
    "{call}(...) raises TypeError (an unexpected keyword argument: the config is a dataclass, "
    "trl/trainer/{module}.py:22 in 1.16.0), so the script stops before training"
)
COMMAND = {"verl": _HYDRA, "openrlhf": _ARGPARSE, "trl": _HF, "trl_rloo": _HF}
CALLS = {"trl": ("GRPOConfig", "grpo_config"), "trl_rloo": ("RLOOConfig", "rloo_config")}


def _on_command_line(framework: str, key: str, args: Any) -> bool:
    """Whether ``key`` is written as the trainer's loader reads it (a Hydra override without
    ``+``, or a ``--flag``)."""
    for word in map(str, args):
        if framework == "verl":
            if word.partition("=")[0] == key:
                return True
        elif word.startswith("--") and word[2:].partition("=")[0].replace("-", "_") == key:
            return True
    return False


def _abbreviates_one(key: str, table: Any, record: Any) -> bool:
    """argparse's allow_abbrev (the default; OpenRLHF's ``argparse.ArgumentParser()``,
    train_ppo_ray.py:198 in 0.11.2, and HfArgumentParser, an ArgumentParser subclass,
    transformers hf_argparser.py:111) takes a word that starts exactly one flag as that flag;
    two or more stop the launch too ('ambiguous option')."""
    names = {*table.keys, *record.script_keys}
    return sum(1 for n in names if n.startswith(key) and n != key) == 1


def refusal(record: Any, s: Any, key: str) -> str | None:
    """What the trainer's own loader does with ``key`` (a key its release lacks), when it
    refuses it: a launch command of the trainer's entry point, or a config-class call; None
    where rlxform does not know (a config file, a custom script, another trainer)."""
    found = getattr(s, "found", None)
    if found is None:
        return None
    name = record.name
    if found.args is not None:
        own = found.program is not None and record.runs(found.program)
        if name in COMMAND and own and _on_command_line(name, key, found.args):
            if name != "verl" and _abbreviates_one(key, s.table, record):
                return None  # argparse reads it as the one flag it abbreviates
            return COMMAND[name].format(key=key)
        return None
    call = str(found.program or "").split(".")[-1]
    if name in CALLS and call == CALLS[name][0] and key in found.values:
        return _CALL.format(call=call, module=CALLS[name][1])
    return None

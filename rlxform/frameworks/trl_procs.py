"""How many processes a TRL (or Unsloth) run's launch command starts.

TRL's dapo / cispo / vespo losses divide by ``num_items_in_batch``, the completion tokens of the
generation batch gathered over every process (``accelerator.gather(...).sum()``,
trl/trainer/grpo_trainer.py:2498 in 1.16.0; ``gather(completion_lengths).sum()`` from 0.22),
and DDP averages the gradients over the processes: one normaliser spans N processes' answers.
N is read from the launcher's own flags:

- ``accelerate launch``: ``--num_processes`` is the total over all machines
  (accelerate/commands/launch.py:198 in accelerate 1.14.0; utils/launch.py:217 splits it per
  machine). A flag on the command line wins over the ``--config_file`` value (launch.py:1274
  fills only flags left unset); without both, accelerate takes its default config file or the
  visible GPUs (launch.py:1212, :1318), which the launch file does not show.
- ``trl grpo ...``: the TRL CLI passes the flags its script does not take to ``accelerate
  launch`` (trl/cli/commands/training.py:60-71 in 1.16.0).
- ``torchrun``: ``--nproc-per-node`` (default 1) x ``--nnodes`` (default 1:1)
  (torch/distributed/run.py get_args_parser).
- ``python script.py``: one process.

A config file, Python file or notebook does not say how it is launched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rlxform import parsing
from rlxform.frameworks.shell_words import Unresolved
from rlxform.validation import InputError

ACCELERATE = "accelerate/commands/launch.py:198 in accelerate 1.14.0"
_DEFAULTED = (
    "accelerate takes it from its default config file or counts the visible GPUs "
    "(accelerate/commands/launch.py:1212, :1318 in accelerate 1.14.0)"
)


@dataclasses.dataclass(frozen=True)
class Processes:
    """The launch's process count.

    Attributes:
      count: N, or None when the input does not determine it.
      why: where N comes from, or what hides it.
      launched: whether the input launches the run (a launch command); False for a config
        file, a Python file or a notebook's GRPOConfig (N is set wherever it is launched).
    """

    count: int | None
    why: str
    launched: bool = True


def _flags(words: Sequence[Any]) -> dict[str, Any]:
    """``{name: value}`` of ``--name value`` / ``--name=value`` words (dashes as underscores);
    a flag without a value maps to True."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not str(word).startswith("-"):
            i += 1
            continue
        name, eq, value = str(word).lstrip("-").partition("=")
        name = name.replace("-", "_")
        if eq:
            names = getattr(word, "names", None)
            out[name] = Unresolved(value, names) if names else value
        elif i + 1 < len(words) and not str(words[i + 1]).startswith("-"):
            out[name], i = words[i + 1], i + 1
        else:
            out[name] = True
        i += 1
    return out


def _count(value: Any) -> int | None:
    if hasattr(value, "names") or value is True:
        return None
    try:
        n = int(str(value))
    except ValueError:
        return None
    return n if n >= 1 else None


def _shown(value: Any) -> str:
    names = getattr(value, "names", ())
    return f"{value} ({', '.join(names)} not set in the file)" if names else str(value)


# trl/accelerate_configs/*.yaml (1.16.0), named by ``trl grpo --accelerate_config NAME``
# (trl/cli/accelerate_config.py:19-47): num_processes 8 each, single_gpu's distributed_type "NO"
TRL_CONFIGS = {name: 8 for name in ("fsdp1", "fsdp2", "multi_gpu", "zero1", "zero2", "zero3")}
_MULTI = ("multi_gpu", "use_deepspeed", "use_fsdp", "use_megatron_lm", "tpu")


def _config_file(path: Any, found: Any) -> tuple[Mapping[str, Any] | None, str]:
    """(the accelerate config file's mapping, or None; how it was read)."""
    from rlxform.frameworks.inputs import nearby_files

    where = f"--config_file {_shown(path)}"
    for candidate in nearby_files(path, found):
        try:
            data = parsing.load_yaml(parsing.read_text(candidate), str(path))
        except InputError:
            return None, f"{where}, which could not be read"
        return (data if isinstance(data, Mapping) else None), where
    return None, f"{where}, a file rlxform did not find, so did not read"


def _named_config(flags: Mapping[str, Any], found: Any) -> tuple[Mapping[str, Any] | None, str]:
    """The accelerate config of ``--config_file`` or TRL's ``--accelerate_config``, and where."""
    name = flags.get("accelerate_config")
    if name not in (None, True) and (str(name) in TRL_CONFIGS or str(name) == "single_gpu"):
        multi = str(name) in TRL_CONFIGS
        config = {"num_processes": 8, "distributed_type": "MULTI_GPU" if multi else "NO"}
        return config, f"--accelerate_config {name} (trl/accelerate_configs/{name}.yaml in 1.16.0)"
    path = name if name not in (None, True) else flags.get("config_file")
    if path in (None, True):
        return None, ""
    return _config_file(path, found)


def _accelerate(flags: Mapping[str, Any], found: Any, via: str) -> Processes:
    n, machines = flags.get("num_processes"), flags.get("num_machines")
    config, where = _named_config(flags, found)
    single = config is not None and str(config.get("distributed_type")) == "NO"
    if single and not any(flags.get(k) is True for k in _MULTI):
        return Processes(1, f"{via}: {where} has distributed_type NO, so accelerate's simple "
                         "launcher runs one process (accelerate/commands/launch.py:1222, :1407 "
                         "in accelerate 1.14.0)")  # fmt: skip
    on = f" on {_shown(machines)} machines" if machines not in (None, True) else ""
    if n is not None:
        count = _count(n)
        if count is None:
            return Processes(None, f"{via} --num_processes {_shown(n)}")
        return Processes(count, f"{via} --num_processes {count}{on}, the total over machines "
                         f"({ACCELERATE})")  # fmt: skip
    if where:
        value = config.get("num_processes") if config is not None else None
        count = None if isinstance(value, bool) else _count(value)
        if count is not None:
            return Processes(count, f"{via}: num_processes {count} in {where}, which accelerate "
                             "reads for the flags not given (launch.py:1274)")  # fmt: skip
        unset = "" if config is None else ", which sets no num_processes of 1 or more"
        return Processes(None, f"{via} without --num_processes: {where}{unset}")
    given = [f"--{k}" for k in ("multi_gpu", "num_machines") if flags.get(k) is not None]
    given = f" ({', '.join(given)} given)" if given else ""
    return Processes(None, f"{via} without --num_processes or --config_file{given}: {_DEFAULTED}")


def _torchrun(flags: Mapping[str, Any]) -> Processes:
    per_node = flags.get("nproc_per_node", "1")
    nodes = str(flags.get("nnodes", "1"))
    low, _, high = nodes.partition(":")
    count = _count(per_node)
    machines = _count(low) if not high or high == low else None
    if count is None or machines is None:
        return Processes(None, f"torchrun --nproc-per-node {_shown(per_node)} --nnodes "
                         f"{_shown(nodes)}: the count depends on the machines")  # fmt: skip
    total = count * machines
    return Processes(total, f"torchrun --nproc-per-node {count} x --nnodes {machines} = {total} "
                     "processes (torch/distributed/run.py get_args_parser)")  # fmt: skip


def launch_processes(found: Any) -> Processes:
    """The process count of ``found``'s launch command (see the module docstring)."""
    launcher = getattr(found, "launcher", None)
    if launcher is None:
        return Processes(None, "the file does not launch the run", launched=False)
    args = getattr(found, "launcher_args", ())
    if launcher == "accelerate launch":
        return _accelerate(_flags(args), found, "accelerate launch")
    if launcher == "trl":
        return _accelerate(
            _flags(getattr(found, "args", ()) or ()), found, "trl (accelerate launch)"
        )
    if launcher == "torchrun":
        return _torchrun(_flags(args))
    if launcher in ("python", "script"):
        return Processes(1, f"{launcher} runs one process")
    return Processes(None, f"{launcher}: rlxform does not read its process count")

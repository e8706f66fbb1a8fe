"""``FRAMEWORKS``: the one registry of trainer records, name -> ``Framework``.

A trainer is a module of this package holding a ``RECORD``; adding one means adding its module
name to ``TRAINERS`` (and its version data), nothing else.
"""

from __future__ import annotations

import importlib

from rlxform.frameworks.record import Framework

TRAINERS = (
    "verl",
    "trl",
    "openrlhf",
    "unsloth",
    "nemo_rl",  # trainers-a (issue 25): NeMo-RL, Open-Instruct, SkyRL
    "open_instruct",
    "skyrl",
    "slime",  # trainers-b (issue 25): slime, ROLL, AReaL
    "roll",
    "areal",
    "prime_rl",  # trainers-c (issue 25): prime-rl, TRL's RLOOTrainer
    "trl_rloo",
)


def _load() -> dict[str, Framework]:
    records = {}
    for module in TRAINERS:
        record = importlib.import_module(f"rlxform.frameworks.{module}").RECORD
        records[record.name] = record
    return records


FRAMEWORKS: dict[str, Framework] = _load()


def names() -> list[str]:
    """The trainer names, in registry order."""
    return list(FRAMEWORKS)

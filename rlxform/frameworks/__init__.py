"""Trainers: one ``Framework`` record per RL trainer (verl, TRL, OpenRLHF, Unsloth, ...).

Each record (``record.Framework``, registered in ``registry.FRAMEWORKS``) holds the trainer's
versions with their default tables and key classes (``tables``, ``data/<name>.json``), how its
launch commands and files are recognised, its config reader, its advantage rule
(``advantages``) and its loss normalisations. ``read_config`` reads config files, shell
launchers, command lines, Python files and notebooks (``readers``; parsing in ``launch``,
``pyfile``, ``notebook``, all pure Python, nothing imported or executed) into a ``RunConfig``.
Importing this package imports no JAX.
"""

from rlxform.frameworks.advantages import advantages
from rlxform.frameworks.common import FACT_KEYS, RunConfig
from rlxform.frameworks.openrlhf import (
    OPENRLHF_ESTIMATORS,
    OPENRLHF_STD_EPSILON,
    OPENRLHF_VAR_FLOOR,
    from_openrlhf,
)
from rlxform.frameworks.readers import read_config
from rlxform.frameworks.record import Framework, Normaliser
from rlxform.frameworks.registry import FRAMEWORKS
from rlxform.frameworks.schemes import batch_std_limit, resolve_scheme, scheme_names
from rlxform.frameworks.trl_rule import (
    TRL_SCALE_REWARDS,
    TRL_STD_EPSILON,
    from_trl,
    normalise_scale_rewards,
)
from rlxform.frameworks.verl_rule import VERL_ESTIMATORS, VERL_STD_EPSILON, from_verl

__all__ = [
    "FACT_KEYS",
    "FRAMEWORKS",
    "OPENRLHF_ESTIMATORS",
    "OPENRLHF_STD_EPSILON",
    "OPENRLHF_VAR_FLOOR",
    "TRL_SCALE_REWARDS",
    "TRL_STD_EPSILON",
    "VERL_ESTIMATORS",
    "VERL_STD_EPSILON",
    "Framework",
    "Normaliser",
    "RunConfig",
    "advantages",
    "batch_std_limit",
    "from_openrlhf",
    "from_trl",
    "from_verl",
    "normalise_scale_rewards",
    "read_config",
    "resolve_scheme",
    "scheme_names",
]

"""The reducer as a markdown table, generated from ``reduce`` over representative settings.

``ROWS`` lists (framework, mode, settings): every loss mode each trainer registers with its default
settings, every aggregation, and the settings that change the reduction (sampler-mismatch
corrections, TRL cispo's cap, sequence-level ratios). rlxform/explain/topics/loss_modes.md holds
its output.
"""

from __future__ import annotations

from typing import Any

from rlxform.core.loss_modes import table
from rlxform.core.loss_modes.reduce import reduce

_VERL_AGG = list(table.VERL_AGG)
_RC = "rollout_correction"
ROWS: list[tuple[str, str, dict[str, Any]]] = [
    *[("verl", "vanilla", {"loss_agg_mode": agg}) for agg in _VERL_AGG],
    *[("verl", mode, {}) for mode in table.VERL if mode not in ("vanilla", "dro")],
    ("verl", "dro", {"dro_beta": 0.1}),
    ("verl", "bypass_mode", {_RC: {"loss_type": "reinforce", "rollout_is": "token"}}),
    ("verl", "vanilla", {_RC: {"rollout_is": "token", "rollout_is_threshold": 2.0}}),
    ("verl", "vanilla", {_RC: {"rollout_is": "token", "rollout_is_threshold": "0.5_2.0"}}),
    ("verl", "vanilla", {_RC: {"rollout_is": "sequence", "rollout_is_threshold": 2.0}}),
    ("verl", "vanilla", {_RC: {"rollout_rs": "token_k1", "rollout_rs_threshold": "0.7_1.3"}}),
    ("verl", "vanilla", {_RC: {"rollout_rs": "seq_mean_k3", "rollout_rs_threshold": 0.01}}),
    ("verl", "geo_mean", {_RC: {"rollout_is": "token", "rollout_is_threshold": 2.0}}),
    *[("trl", mode, {}) for mode in table.TRL],
    ("trl", "grpo", {"importance_sampling_level": "sequence"}),
    ("trl", "cispo", {"epsilon_high": 5.0}),
    ("trl", "dapo", {"use_vllm": True}),
    ("trl", "dapo", {"use_vllm": True, "vllm_importance_sampling_mode": "token_truncate"}),
    ("trl", "dapo", {"off_policy_mask_threshold": 0.5}),
    ("trl", "dapo", {"use_vllm": True, "off_policy_mask_threshold": 0.5}),
    ("openrlhf", "ppo", {}),
    ("openrlhf", "ppo", {"loss_agg_mode": "seq-mean-token-mean"}),
    ("openrlhf", "gspo", {}),
    ("openrlhf", "ppo", {"is_correction_level": "token"}),
    ("openrlhf", "ppo", {"is_correction_level": "seq", "is_correction_threshold": [0.8, 1.25]}),
    ("openrlhf", "gspo", {"is_correction_level": "token"}),
]

_HEADER = (
    "| framework | mode | settings | length_factor | exact_on_policy | off_policy_only | source |\n"
    "|---|---|---|---|---|---|---|"
)


def _settings_text(settings: dict[str, Any]) -> str:
    flat = {}
    for key, value in settings.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return ", ".join(f"{k}={v}" for k, v in flat.items()) or "defaults"


def markdown_table(rows: list[tuple[str, str, dict[str, Any]]] | None = None) -> str:
    """One markdown row per (framework, mode, settings) of ``rows`` (default ``ROWS``)."""
    lines = [_HEADER]
    for framework, mode, settings in ROWS if rows is None else rows:
        loss = reduce(framework, mode, **settings)
        factor = loss.length_factor + (f" × {loss.scale:g}" if loss.scale != 1.0 else "")
        cells = [
            f"{framework} {loss.version}",
            loss.mode,
            _settings_text(settings),
            factor,
            "yes" if loss.exact_on_policy else "no",
            ", ".join(loss.off_policy_only) or "none",
            loss.source.split(" ", 2)[2],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

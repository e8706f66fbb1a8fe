"""Rules of computed defaults and aliases, each anchored to the source line that applies it."""

from __future__ import annotations

import re
from pathlib import Path

# ---- rules: computed defaults and aliases, anchored to a source line --------------------------
# (key, candidate files, regex of the line, text, when): a file "path::start" is searched from its
# first line that starts with "start". ``when`` is "present" (the key exists in
# the version) or "absent" (what the code does without the key; the first match wins).

_TRL_CFG = ["trl/trainer/grpo_config.py", "trl/trainer/base_config.py"]
_TRL_TRAINER = ["trl/trainer/grpo_trainer.py"]
_VERL_MIGRATE = "verl/experimental/reward_loop/reward_loop.py"
_ORL_LOSS = ["openrlhf/models/loss.py::class PolicyLoss"]  # searched from that line on
RULES: dict[str, list[tuple[str, list[str], str, str, str]]] = {
    "trl": [
        ("steps_per_generation", _TRL_CFG,
         r"self\.steps_per_generation = self\.gradient_accumulation_steps$",
         "None -> gradient_accumulation_steps (when generation_batch_size is None too)", "present"),
        ("steps_per_generation", _TRL_CFG,
         r"self\.steps_per_generation = self\.generation_batch_size // ",
         "generation_batch_size set -> generation_batch_size // (per_device_train_batch_size * "
         "num_processes)", "present"),
        ("steps_per_generation", _TRL_TRAINER,
         r"generate_every = self\.args\.gradient_accumulation_steps \* self\.num_iterations",
         "no such field: one generation covers gradient_accumulation_steps micro-batches, reused "
         "num_iterations times (as steps_per_generation = gradient_accumulation_steps)", "absent"),
        ("steps_per_generation", _TRL_TRAINER,
         r"if self\.state\.global_step % self\.num_iterations == 0:",
         "no such field: each micro-batch generates its own completions, kept for num_iterations "
         "optimizer steps of gradient_accumulation_steps micro-batches each (as "
         "steps_per_generation = gradient_accumulation_steps)", "absent"),
        ("steps_per_generation", _TRL_TRAINER,
         r"prompt_completion_ids = unwrapped_model\.generate\(",
         "no such field: every micro-batch generates its own completions; the optimizer steps "
         "every gradient_accumulation_steps micro-batches (one update per generation batch)",
         "absent"),
        ("generation_batch_size", _TRL_CFG,
         r"self\.generation_batch_size = self\.per_device_train_batch_size \* num_processes \* "
         r"self\.steps_per_generation",
         "None -> per_device_train_batch_size * num_processes * steps_per_generation", "present"),
        ("scale_rewards", _TRL_CFG, r'self\.scale_rewards = \{True: "group", False: "none"\}',
         'True -> "group", False -> "none"', "present"),
        ("scale_rewards", _TRL_TRAINER, r"if self\.(args\.)?scale_rewards:$",
         "True divides r - group mean by (group std + 1e-4); False does not", "present"),
        ("scale_rewards", _TRL_TRAINER,
         r"advantages = \(rewards - mean_grouped_rewards\) / \(std_grouped_rewards \+ 1e-4\)",
         "no such field: advantages are always (r - group mean) / (group std + 1e-4)", "absent"),
        ("loss_type", _TRL_TRAINER,
         r"loss = \(\(per_token_loss \* completion_mask\)\.sum\(dim=1\) / "
         r"completion_mask\.sum\(dim=1\)\)\.mean\(\)",
         "no such field: token mean per sequence, then mean over sequences (as loss_type grpo)",
         "absent"),
        ("loss_type", _TRL_TRAINER,
         r"loss = \(per_token_loss \* completion_mask\)\.sum\(\) / completion_mask\.sum\(\)$",
         "no such field: token mean over the local micro-batch (as loss_type bnpo)", "absent"),
        ("num_iterations", _TRL_TRAINER,
         r"torch\.exp\(per_token_logps - per_token_logps\.detach\(\)\)",
         "no such field (nor epsilon): one on-policy step per generation; the ratio "
         "exp(logp - logp.detach()) is 1, nothing is clipped", "absent"),
        ("epsilon_high", _TRL_TRAINER,
         r"self\.epsilon_high = args\.epsilon_high if args\.epsilon_high is not None else "
         r"args\.epsilon", "None -> epsilon", "present"),
        ("top_k", _TRL_CFG, r"self\.top_k = 0$", "None -> 0 (no top-k filtering)", "present"),
        ("vllm_importance_sampling_correction", _TRL_TRAINER,
         r"self\.use_vllm and self\.vllm_importance_sampling_correction",
         "acts only when use_vllm is True", "present"),
        ("vllm_importance_sampling_mode", _TRL_TRAINER,
         r"importance_sampling_ratio, max=self\.vllm_importance_sampling_cap",
         "no such field: a per-token ratio truncated at vllm_importance_sampling_cap "
         "(token-level truncated IS)", "absent"),
        ("vllm_importance_sampling_cap", _TRL_CFG,
         r"self\.vllm_importance_sampling_clip_max = self\.vllm_importance_sampling_cap",
         "deprecated: when set, copied into vllm_importance_sampling_clip_max", "present"),
        ("use_liger_loss", _TRL_CFG, r"self\.use_liger_kernel = self\.use_liger_loss",
         "deprecated: when set, copied into use_liger_kernel", "present"),
        ("wandb_log_unique_prompts", _TRL_CFG,
         r"self\.log_unique_prompts = self\.wandb_log_unique_prompts",
         "deprecated: when set, copied into log_unique_prompts", "present"),
        ("vllm_guided_decoding_regex", _TRL_CFG,
         r"self\.vllm_structured_outputs_regex = self\.vllm_guided_decoding_regex",
         "deprecated: when set, copied into vllm_structured_outputs_regex", "present"),
        ("use_transformers_paged", _TRL_CFG,
         r"self\.use_transformers_continuous_batching = True",
         "deprecated: True sets use_transformers_continuous_batching", "present"),
        ("bf16", _TRL_CFG, r"self\.bf16 = not \(?self\.fp16\)? if self\.bf16 is None",
         "None -> not fp16", "present"),
    ],
    "verl": [
        ("actor_rollout_ref.actor.clip_ratio_low", ["verl/trainer/ppo/core_algos.py"],
         r"= config\.clip_ratio_low if config\.clip_ratio_low is not None else",
         "null -> clip_ratio; the YAML default is 0.2, so clip_ratio alone changes nothing",
         "present"),
        ("actor_rollout_ref.actor.clip_ratio_high", ["verl/trainer/ppo/core_algos.py"],
         r"= config\.clip_ratio_high if config\.clip_ratio_high is not None else",
         "null -> clip_ratio; the YAML default is 0.2, so clip_ratio alone changes nothing",
         "present"),
        ("actor_rollout_ref.actor.ppo_mini_batch_size",
         ["verl/trainer/ppo/v1/trainer_base.py", "verl/workers/fsdp_workers.py"],
         r"(actor_global_mini_batch_size \*= self\.config\.actor_rollout_ref\.rollout\.n"
         r"|self\.config\.actor\.ppo_mini_batch_size \*= self\.config\.rollout\.n)",
         "counts prompts: multiplied by rollout.n before splitting the batch", "present"),
        ("reward_model.reward_manager", [_VERL_MIGRATE],
         r"# config\.reward_model\.reward_manager -> config\.reward\.reward_manager",
         "legacy: when not null, moved into reward.reward_manager.name", "present"),
        ("custom_reward_function.path", [_VERL_MIGRATE],
         r"# config\.custom_reward_function -> config\.reward\.custom_reward_function",
         "legacy: when set, moved into reward.custom_reward_function", "present"),
        ("reward_model.enable", [_VERL_MIGRATE],
         r"# config\.reward_model -> config\.reward\.reward_model$",
         "legacy: when not null, moved into reward.reward_model.enable", "present"),
        ("sandbox_fusion.url", [_VERL_MIGRATE],
         r"# config\.sandbox_fusion -> reward\.sandbox_fusion",
         "legacy: when set, moved into reward.sandbox_fusion", "present"),
        ("reward.reward_kwargs", [_VERL_MIGRATE],
         r"# config\.reward_model\.reward_kwargs -> config\.reward\.reward_kwargs",
         "not declared by the core config (recipes such as DAPO add it, with the overlong "
         "shaping); a legacy reward_model.reward_kwargs is moved here", "absent"),
    ],
    "openrlhf": [
        ("actor.eps_clip_low_high", ["openrlhf/cli/train_ppo_ray.py"],
         r"args\.actor\.eps_clip_low_high = \(args\.actor\.eps_clip, args\.actor\.eps_clip\)",
         "None -> (actor.eps_clip, actor.eps_clip); when set it replaces actor.eps_clip",
         "present"),
        ("eps_clip_low_high", ["openrlhf/cli/train_ppo_ray.py"],
         r"args\.eps_clip_low_high = \(args\.eps_clip, args\.eps_clip\)",
         "None -> (eps_clip, eps_clip); when set it replaces eps_clip", "present"),
        ("rollout.vllm_generate_batch_size", ["openrlhf/cli/train_ppo_ray.py"],
         r"args\.rollout\.vllm_generate_batch_size = args\.rollout\.batch_size",
         "None -> rollout.batch_size", "present"),
        ("vllm_generate_batch_size", ["openrlhf/cli/train_ppo_ray.py"],
         r"args\.vllm_generate_batch_size = args\.rollout_batch_size",
         "None -> rollout_batch_size", "present"),
        ("actor.loss_agg_mode", _ORL_LOSS, r"self\.token_level_loss = token_level_loss",
         "no such option: a token-level mean (PolicyLoss token_level_loss=True; policy_loss_type "
         "gspo, where it exists, averages per sequence)", "absent"),
        ("actor.loss_agg_mode", _ORL_LOSS,
         r"loss = masked_mean\(loss, action_mask, dim=-1\)\.mean\(\)",
         "no such option: each sequence's token mean, then the mean over sequences "
         "(seq-mean-token-mean)", "absent"),
        ("algo.advantage.is_correction_threshold", ["openrlhf/cli/train_ppo_ray.py"],
         r"threshold\.insert\(0, 0\.0\)", "one value HIGH -> [0.0, HIGH]", "present"),
        ("algo.advantage.is_correction_level", ["openrlhf/cli/train_ppo_ray.py"],
         r"# Named schemes: TIS = token clip",
         "replaces is_correction_enable/is_correction_type: tis = level token + mode clip, "
         "icepop = token + mask, seq-mask-tis = seq + mask (gating ratio)", "present"),
    ],
}  # fmt: skip


def find_rules(framework: str, root: Path, keys: dict) -> dict[str, list[dict]]:
    """The rules whose anchor line exists in this version's sources."""
    out: dict[str, list[dict]] = {}
    for key, files, pattern, text, when in RULES[framework]:
        if (when == "present" and key not in keys) or (when == "absent" and key in keys):
            continue
        if when == "absent" and key in out:  # the first matching description wins
            continue
        for spec in files:
            rel, _, start = spec.partition("::")
            path = root / rel
            if not path.is_file():
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            first = next((i for i, line in enumerate(lines) if start and line.startswith(start)), 0)
            hits = [
                i + 1
                for i, line in enumerate(lines)
                if i >= first and re.search(pattern, line.strip())
            ]
            if hits:
                out.setdefault(key, []).append({"text": text, "file": rel, "line": hits[0]})
                break
    return out

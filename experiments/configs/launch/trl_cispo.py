"""CISPO with TRL from Python: ``loss_type="cispo"`` in a GRPOConfig built in code.

Conventions of TRL's quickstart (huggingface/trl docs/source/quickstart.md): one reward function
taking ``completions`` and returning one float each, ``GRPOConfig(...)`` as ``args``. CISPO's
weight is the detached ratio capped at ``epsilon_high`` (the cap itself, not 1 + epsilon_high);
this script leaves ``epsilon_high`` unset, as a copied GRPO script would, so TRL 1.16.0 caps it
at ``epsilon`` = 0.2 (grpo_trainer.py:946, :3109-3111).
Written for rlxform's tests: rlxform reads this file with ``ast`` and never runs it.
"""

import re

from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer

MODEL = "Qwen/Qwen2.5-1.5B-Instruct"


def correct_answer(completions, answer, **kwargs):
    """1 when the last number of the completion equals the reference answer, else 0."""
    found = [re.findall(r"-?\d+", c[0]["content"]) for c in completions]
    return [1.0 if f and f[-1] == a else 0.0 for f, a in zip(found, answer, strict=True)]


def main():
    dataset = load_dataset("openai/gsm8k", "main", split="train")
    training_args = GRPOConfig(
        output_dir="runs/cispo-qwen2.5-1.5b",
        learning_rate=1e-6,
        per_device_train_batch_size=16,
        gradient_accumulation_steps=2,
        num_generations=8,
        max_completion_length=1024,
        loss_type="cispo",
        logging_steps=10,
        bf16=True,
    )
    trainer = GRPOTrainer(
        model=MODEL,
        reward_funcs=correct_answer,
        args=training_args,
        train_dataset=dataset,
    )
    trainer.train()


if __name__ == "__main__":
    main()

"""GRPO with TRL from Python: a GRPOConfig built in code, two reward functions.

Conventions of TRL's quickstart (huggingface/trl docs/source/quickstart.md) and the GRPO
chapter of the Hugging Face LLM course (huggingface.co/learn/llm-course/chapter12/4): reward
functions taking ``completions`` and returning one float each, ``GRPOConfig(...)`` as ``args``.
Written for rlxform's tests: rlxform reads this file with ``ast`` and never runs it.
"""

import re

from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
GROUP_SIZE = 8
PROMPTS_PER_DEVICE = 2
MAX_PROMPT = 256
MAX_TOTAL = 1024
run_name = "grpo-" + MODEL.split("/")[-1]


def correct_answer(completions, answer, **kwargs):
    """1 when the last number of the completion equals the reference answer, else 0."""
    found = [re.findall(r"-?\d+", c[0]["content"]) for c in completions]
    return [1.0 if f and f[-1] == a else 0.0 for f, a in zip(found, answer, strict=True)]


def well_formatted(completions, **kwargs):
    """1 when the completion wraps its reasoning in <think> tags, else 0."""
    return [
        1.0 if re.search(r"<think>.*</think>", c[0]["content"], re.S) else 0.0 for c in completions
    ]


def main():
    dataset = load_dataset("openai/gsm8k", "main", split="train")
    training_args = GRPOConfig(
        output_dir=f"runs/{run_name}",
        learning_rate=1e-6,
        per_device_train_batch_size=PROMPTS_PER_DEVICE * GROUP_SIZE,
        gradient_accumulation_steps=4,
        num_generations=GROUP_SIZE,
        max_prompt_length=MAX_PROMPT,
        max_completion_length=MAX_TOTAL - MAX_PROMPT,
        beta=0.04,
        loss_type="bnpo",
        epsilon=0.2,
        epsilon_high=0.28,
        reward_weights=[1.0, 0.2],
        logging_steps=10,
        bf16=True,
        seed=len(run_name),
    )
    trainer = GRPOTrainer(
        model=MODEL,
        reward_funcs=[correct_answer, well_formatted],
        args=training_args,
        train_dataset=dataset,
    )
    trainer.train()


if __name__ == "__main__":
    main()

"""TRL RLOOTrainer on GSM8K with one 0/1 reward function (after trl/scripts/rloo.py and the TRL
RLOO docs, trl 1.16.0). Run: accelerate launch experiments/configs/trl_rloo/train_rloo.py

Every key not passed below takes RLOOConfig's default (trl/trainer/rloo_config.py in 1.16.0):
beta 0.05 (KL in the reward), normalize_advantages False, one optimizer step per generation.
"""

from datasets import load_dataset
from trl import RLOOConfig, RLOOTrainer
from trl.rewards import accuracy_reward

MODEL = "Qwen/Qwen3-0.6B"
NUM_GENERATIONS = 8

dataset = load_dataset("trl-lib/DeepMath-103K", split="train")

training_args = RLOOConfig(
    output_dir="Qwen3-0.6B-RLOO",
    num_generations=NUM_GENERATIONS,
    per_device_train_batch_size=16,
    gradient_accumulation_steps=4,
    max_completion_length=1024,
    learning_rate=1e-6,
    logging_steps=10,
    bf16=True,
)

trainer = RLOOTrainer(
    model=MODEL,
    reward_funcs=accuracy_reward,
    args=training_args,
    train_dataset=dataset,
)
trainer.train()

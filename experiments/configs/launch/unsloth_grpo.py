# GRPO with Unsloth: a LoRA model from FastLanguageModel trained by TRL's GRPOTrainer.
# Conventions of Unsloth's GRPO notebooks (docs.unsloth.ai, "reasoning-grpo-and-rl"): unsloth
# imported before trl, module-level sizes, `bf16 = is_bfloat16_supported()`, several reward
# functions summed by the trainer. Written for rlxform's tests (read with ast, never run).
# ruff: noqa: I001 - Unsloth must be imported before trl, against alphabetical order
from unsloth import FastLanguageModel, is_bfloat16_supported  # must come before trl

import torch
from trl import GRPOConfig, GRPOTrainer

max_seq_length = 1024
max_prompt_length = 256
lora_rank = 32

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name="Qwen/Qwen2.5-3B-Instruct",
    max_seq_length=max_seq_length,
    load_in_4bit=True,
    fast_inference=True,
    max_lora_rank=lora_rank,
    gpu_memory_utilization=0.6,
)
model = FastLanguageModel.get_peft_model(model, r=lora_rank, lora_alpha=lora_rank)


def xml_tags_reward(completions, **kwargs):
    """Up to 0.5 for each of the <reasoning> and <answer> tags present."""
    texts = [c[0]["content"] for c in completions]
    return [0.25 * sum(tag in t for tag in ("<reasoning>", "</reasoning>")) for t in texts]


def integer_answer_reward(completions, **kwargs):
    """0.5 when the answer is an integer."""
    return [0.5 if c[0]["content"].strip().isdigit() else 0.0 for c in completions]


def correctness_reward(prompts, completions, answer, **kwargs):
    """2.0 for the right answer."""
    return [
        2.0 if c[0]["content"].strip() == a else 0.0
        for c, a in zip(completions, answer, strict=True)
    ]


steps = 250
steps += 50  # a longer run than the notebook's

training_args = GRPOConfig(
    use_vllm=True,
    learning_rate=5e-6,
    adam_beta1=0.9,
    adam_beta2=0.99,
    weight_decay=0.1,
    warmup_ratio=0.1,
    lr_scheduler_type="cosine",
    optim="paged_adamw_8bit",
    logging_steps=1,
    bf16=is_bfloat16_supported(),
    fp16=not is_bfloat16_supported(),
    per_device_train_batch_size=6,
    gradient_accumulation_steps=1,
    num_generations=6,
    max_prompt_length=max_prompt_length,
    max_completion_length=max_seq_length - max_prompt_length,
    max_steps=steps,
    save_steps=steps,
    max_grad_norm=0.1,
    report_to="none",
    output_dir="outputs",
)

trainer = GRPOTrainer(
    model=model,
    processing_class=tokenizer,
    reward_funcs=[xml_tags_reward, integer_answer_reward, correctness_reward],
    args=training_args,
    train_dataset=None,
)
if torch.cuda.is_available():
    trainer.train()

# GRPO with Unsloth generating through vLLM with its own SamplingParams: Unsloth's GRPOConfig
# has a vllm_sampling_params field whose keyword arguments join the generation's sampling
# parameters (unsloth/models/rl.py), here min_p = 0.1. Conventions of Unsloth's Qwen3 GRPO
# notebooks (unslothai/notebooks): unsloth imported before trl, `from vllm import
# SamplingParams`, module-level sizes. Written for rlxform's tests (read with ast, never run).
# ruff: noqa: I001 - Unsloth must be imported before trl, against alphabetical order
from unsloth import FastLanguageModel  # must come before trl

from trl import GRPOConfig, GRPOTrainer
from vllm import SamplingParams

max_seq_length = 2048
lora_rank = 16

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name="unsloth/Qwen3-4B-Base",
    max_seq_length=max_seq_length,
    load_in_4bit=False,
    fast_inference=True,
    max_lora_rank=lora_rank,
    gpu_memory_utilization=0.7,
)
model = FastLanguageModel.get_peft_model(model, r=lora_rank, lora_alpha=lora_rank * 2)


def exact_answer(prompts, completions, answer, **kwargs):
    """1 when the text after the last 'ANSWER:' equals the reference, else 0."""
    texts = [c[0]["content"].rsplit("ANSWER:", 1)[-1].strip() for c in completions]
    return [1.0 if t == a else 0.0 for t, a in zip(texts, answer, strict=True)]


vllm_sampling_params = SamplingParams(
    min_p=0.1,
    top_p=1.0,
    top_k=-1,
    seed=3407,
    stop=[tokenizer.eos_token],
    include_stop_str_in_output=True,
)

training_args = GRPOConfig(
    vllm_sampling_params=vllm_sampling_params,
    temperature=1.0,
    learning_rate=5e-6,
    weight_decay=0.01,
    warmup_ratio=0.1,
    lr_scheduler_type="linear",
    optim="adamw_8bit",
    logging_steps=1,
    per_device_train_batch_size=4,
    gradient_accumulation_steps=1,
    num_generations=4,
    max_completion_length=1024,
    max_steps=100,
    save_steps=100,
    report_to="none",
    output_dir="outputs",
)

trainer = GRPOTrainer(
    model=model,
    processing_class=tokenizer,
    reward_funcs=[exact_answer],
    args=training_args,
    train_dataset=None,
)

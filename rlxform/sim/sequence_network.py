"""A small autoregressive Flax policy over token strings: a GRU with a prompt embedding.

h_0 = tanh(E_prompt[x]); h_{t+1} = GRU(h_t, E_token[y_t]); next-token logits = W h_t + c. The
parameters are shared by every prompt and prefix. ``network_logits`` evaluates the network on
every prefix of the task (``core.sequences.prefix_tokens``, the tabular policy's indexing), so
the policy samples from that table and the exact routes of ``core.sequences`` (log-probs,
length statistics) apply to it, with gradients flowing to the network parameters. Initial p is
whatever the random initialisation gives, not set.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from rlxform.core.sequences import SequenceTask, prefix_tokens
from rlxform.types import Array, PRNGKey, PyTree
from rlxform.validation import InputError, check_int


class _GRUPolicy(nn.Module):
    vocab_size: int
    num_prompts: int
    hidden: int

    def setup(self) -> None:
        self.prompt_embed = nn.Embed(self.num_prompts, self.hidden)
        self.token_embed = nn.Embed(self.vocab_size, self.hidden)
        self.cell = nn.GRUCell(features=self.hidden)
        self.head = nn.Dense(self.vocab_size)

    def start(self, prompt_ids: Array) -> Array:
        return jnp.tanh(self.prompt_embed(prompt_ids))

    def step(self, hidden: Array, token: Array) -> Array:
        hidden, _ = self.cell(hidden, self.token_embed(token))
        return hidden

    def logits(self, hidden: Array) -> Array:
        return self.head(hidden)

    def __call__(self, prompt_ids: Array, token: Array) -> Array:  # used by init only
        return self.logits(self.step(self.start(prompt_ids), token))


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Static shape of the network: task, P prompts, H hidden units."""

    task: SequenceTask
    num_prompts: int = 1
    hidden: int = 16


def _module(cfg: NetworkConfig) -> _GRUPolicy:
    return _GRUPolicy(cfg.task.vocab_size, cfg.num_prompts, cfg.hidden)


def init_sequence_network(key: PRNGKey, cfg: NetworkConfig) -> PyTree:
    """Flax parameters of the GRU policy (float32)."""
    check_int("num_prompts", cfg.num_prompts, 1)
    check_int("hidden", cfg.hidden, 1)
    if not isinstance(cfg.task, SequenceTask):
        raise InputError(f"task={cfg.task!r} is invalid: must be an rlxform SequenceTask")
    ids = jnp.zeros((1,), jnp.int32)
    return _module(cfg).init(key, ids, ids)


@functools.partial(jax.jit, static_argnames=("cfg",))
def network_logits(params: PyTree, cfg: NetworkConfig) -> Array:
    """Next-token logits at every prefix of every prompt: ``float32[P, num_prefixes, V]``."""
    model = _module(cfg)
    tokens, lengths = prefix_tokens(cfg.task)
    ids = jnp.arange(cfg.num_prompts)
    start = model.apply(params, ids, method=_GRUPolicy.start)  # [P, H]
    hidden = jnp.broadcast_to(start[:, None, :], (cfg.num_prompts, tokens.shape[0], cfg.hidden))

    def step(h, column):
        position, token = column
        moved = model.apply(params, h, jnp.maximum(token, 0)[None, :], method=_GRUPolicy.step)
        return jnp.where((position < lengths)[None, :, None], moved, h), None

    columns = (jnp.arange(tokens.shape[1]), jnp.asarray(tokens.T))
    hidden, _ = jax.lax.scan(step, hidden, columns)
    return model.apply(params, hidden, method=_GRUPolicy.logits)

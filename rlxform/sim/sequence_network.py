"""A small autoregressive Flax policy over token strings: a GRU with a prompt embedding.

h_0 = tanh(E_prompt[x]); h_{t+1} = GRU(h_t, E_token[y_t]); next-token logits = W h_t + c. The
parameters are shared by every prompt and prefix. ``network_logits`` evaluates the network on
every prefix of the task (same indexing as the tabular policy), so the exact machinery of
``sequence_policies`` (log-probs, stats, expected update) applies to the table it returns and
gradients flow to the network parameters; ``sample_network_sequences`` runs the recurrence token
by token in a ``lax.scan``. Initial p is whatever the random initialisation gives (reported by
``sequence_stats(network_logits(...))``), not set.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rlxform.core.aggregation import check_aggregation, sequence_weights_from_tables
from rlxform.core.schemes import Scheme
from rlxform.sim.sequence_policies import SequenceSample, sequence_log_probs
from rlxform.sim.sequence_tasks import PAD, SequenceTask, enumerate_sequences
from rlxform.types import Array, ArrayLike, NDArray, PRNGKey, PyTree
from rlxform.validation import check_int


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
        raise ValueError(f"task={cfg.task!r} is invalid: must be an rlxform SequenceTask")
    ids = jnp.zeros((1,), jnp.int32)
    return _module(cfg).init(key, ids, ids)


@functools.lru_cache(maxsize=32)
def prefix_tokens(task: SequenceTask) -> tuple[NDArray, NDArray]:
    """Content tokens of every prefix, ``int32[num_prefixes, max(max_length-1, 1)]`` (PAD-padded),
    and their lengths ``int32[num_prefixes]``, in the tabular policy's prefix order."""
    b = task.vocab_size - 1
    rows, lengths = [], []
    for k in range(task.max_length):
        count = b**k
        block = np.full((count, max(task.max_length - 1, 1)), PAD, np.int32)
        if k > 0:
            block[:, :k] = np.arange(count)[:, None] // (b ** np.arange(k - 1, -1, -1))[None, :] % b
        rows.append(block)
        lengths.append(np.full(count, k, np.int32))
    tokens, lengths = np.concatenate(rows), np.concatenate(lengths)
    tokens.setflags(write=False)
    lengths.setflags(write=False)
    return tokens, lengths


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


@functools.partial(jax.jit, static_argnames=("cfg", "num_samples"))
def sample_network_sequences(
    key: PRNGKey, params: PyTree, cfg: NetworkConfig, prompt_id: ArrayLike, num_samples: int
) -> SequenceSample:
    """Token-by-token sampling from the GRU for one prompt (vmap over prompts and keys).

    Returns ``SequenceSample`` with ``int32[S, max_length]`` tokens (PAD after the end).
    """
    model = _module(cfg)
    task = cfg.task
    ids = jnp.full((num_samples,), prompt_id, jnp.int32)
    hidden = model.apply(params, ids, method=_GRUPolicy.start)

    def step(carry, step_key):
        h, done = carry
        logits = model.apply(params, h, method=_GRUPolicy.logits)
        token = jax.random.categorical(step_key, logits, axis=-1).astype(jnp.int32)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits, -1), token[:, None], -1)[:, 0]
        out = (jnp.where(done, PAD, token), jnp.where(done, 0.0, log_prob))
        h = model.apply(params, h, token, method=_GRUPolicy.step)
        return (h, done | (token == task.stop)), out

    keys = jax.random.split(key, task.max_length)
    _, (tokens, log_probs) = jax.lax.scan(step, (hidden, jnp.zeros(num_samples, bool)), keys)
    tokens, log_probs = tokens.T, log_probs.T
    lengths = jnp.sum(tokens != PAD, axis=-1).astype(jnp.int32)
    return SequenceSample(tokens, lengths, log_probs)


def sequence_network(task: SequenceTask, num_prompts: int = 1, hidden: int = 16) -> NetworkConfig:
    """Config of the GRU sequence policy; use with ``init_sequence_network``,
    ``network_logits`` (exact routes via the prefix table) and ``sample_network_sequences``."""
    if not isinstance(task, SequenceTask):
        raise ValueError(f"task={task!r} is invalid: must be an rlxform SequenceTask")
    return NetworkConfig(
        task, check_int("num_prompts", num_prompts, 1), check_int("hidden", hidden, 1)
    )


def network_expected_update(
    scheme: Scheme,
    aggregation: str,
    group_size: int,
    params: PyTree,
    cfg: NetworkConfig,
    *,
    batch_groups: int = 1,
) -> PyTree:
    """Exact E[g] in the network parameters: grad of sum_x sum_y pi sg(omega) log pi.

    Summed over the P prompts (each prompt's omega from its own response law); the same pytree
    structure as ``params``.
    """
    if not isinstance(scheme, Scheme):
        raise ValueError(f"scheme={scheme!r} is invalid: must be an rlxform.core.schemes.Scheme")
    a_table, b_table = scheme.tables(scheme.check_group_size(group_size))
    mode = check_aggregation(aggregation)
    batch_groups = check_int("batch_groups", batch_groups, 1)
    return _network_update(
        jnp.asarray(a_table), jnp.asarray(b_table), params, mode, cfg, batch_groups
    )


@functools.partial(jax.jit, static_argnames=("aggregation", "cfg", "batch_groups"))
def _network_update(a_table, b_table, params, aggregation, cfg, batch_groups):
    task = cfg.task
    enum = enumerate_sequences(task)
    log_pi = sequence_log_probs(network_logits(params, cfg), task)  # [P, N]
    probs = jnp.exp(log_pi)
    weigh = lambda q: sequence_weights_from_tables(
        a_table,
        b_table,
        aggregation,
        q,
        enum.lengths,
        enum.correct,
        max_length=task.max_length,
        batch_groups=batch_groups,
    )
    coefficients = probs * jax.vmap(weigh)(probs)

    def surrogate(theta):
        return jnp.sum(coefficients * sequence_log_probs(network_logits(theta, cfg), task))

    return jax.grad(surrogate)(params)

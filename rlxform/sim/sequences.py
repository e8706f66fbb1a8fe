"""Sequence policies and loss aggregation (SPEC section 8): the public face of three modules.

``sequence_tasks`` (SequenceTask, enumerate_sequences), ``aggregation`` (modes, TRL aliases,
sequence_weights: the exact expected weight omega(y) of each response) and
``sequence_policies`` (the tabular autoregressive policy, its sampler, exact statistics, the
exact expected update and ``length_drift``) and ``sequence_network`` (a GRU policy whose prefix
table feeds the same exact routes). Exact values are float64 under
``jax.enable_x64(True)``; ``length_drift`` switches float64 on itself.
"""

from rlxform.core.aggregation import (
    AGGREGATION_ALIASES,
    AGGREGATIONS,
    aggregation_factor,
    aggregation_objective,
    check_aggregation,
    sequence_weights,
    sequence_weights_from_tables,
)
from rlxform.sim.sequence_network import (
    NetworkConfig,
    init_sequence_network,
    network_expected_update,
    network_logits,
    sample_network_sequences,
    sequence_network,
)
from rlxform.sim.sequence_policies import (
    LengthDrift,
    SequencePolicy,
    SequenceSample,
    SequenceStats,
    expected_update,
    init_sequence_tabular,
    length_drift,
    num_prefixes,
    prefix_indices,
    sample_sequences,
    sequence_log_probs,
    sequence_stats,
    sequence_tabular,
)
from rlxform.sim.sequence_tasks import (
    MAX_SEQUENCES,
    PAD,
    VERIFIERS,
    Enumeration,
    SequenceTask,
    enumerate_sequences,
    num_sequences,
)

__all__ = [
    "AGGREGATIONS",
    "AGGREGATION_ALIASES",
    "MAX_SEQUENCES",
    "PAD",
    "VERIFIERS",
    "Enumeration",
    "LengthDrift",
    "NetworkConfig",
    "SequencePolicy",
    "SequenceSample",
    "SequenceStats",
    "SequenceTask",
    "aggregation_factor",
    "aggregation_objective",
    "check_aggregation",
    "enumerate_sequences",
    "expected_update",
    "init_sequence_network",
    "init_sequence_tabular",
    "length_drift",
    "network_expected_update",
    "network_logits",
    "num_prefixes",
    "num_sequences",
    "prefix_indices",
    "sample_network_sequences",
    "sample_sequences",
    "sequence_log_probs",
    "sequence_network",
    "sequence_stats",
    "sequence_tabular",
    "sequence_weights",
    "sequence_weights_from_tables",
]

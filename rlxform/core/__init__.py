"""Exact math of binary-reward RL transforms: no simulator, no IO.

bernstein (bases, h_M from tables), registry (Scheme as data, ``@register``), schemes (the
catalog), design (inverse design), objective (``transform``), noise, frameworks (verl / TRL /
OpenRLHF adapters), and the penalty / aggregation / PPO / KL exact references.
"""

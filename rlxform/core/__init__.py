"""Exact math of binary-reward RL transforms: no simulator, no IO.

bernstein (bases, h_M from tables), registry (Scheme as data, ``@register``), schemes (the
catalog), design (inverse design), objective (``transform``), noise, and the penalty /
aggregation / PPO / KL exact references. Trainers (verl, TRL, OpenRLHF, ...) live in
``rlxform.frameworks``.
"""

"""Objective cards: what a framework run config optimises, explained from the exact math.

cards (``explain(config)`` -> ``ObjectiveCard``), conclusions (the penalty, aggregation and
length sections of a card). Reads configs (``rlxform.core.configs``) and uses the exact math of
``rlxform.core``; saving a card's figure is the only IO, done lazily.
"""

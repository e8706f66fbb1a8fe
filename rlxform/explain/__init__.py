"""Objective cards: what a trainer run optimises, explained from the exact math.

cards (``explain(config)`` -> ``ObjectiveCard``: sections, markdown and JSON), sections (objective,
lens, rewards, not modelled, pitfalls), conclusions (KL equilibrium, length bias at the run's own
normaliser), topics (the math behind each section, ``topics/*.md``). Reads runs through
``rlxform.frameworks`` and uses the NumPy core; no JAX. Saving a card's figure is the only IO.
"""

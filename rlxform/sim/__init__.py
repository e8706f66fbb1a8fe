"""Simulator seams: config, policies, estimator, loop, simulate, reference (issue 12)."""

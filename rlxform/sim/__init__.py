"""The jitted simulator: config, policy kinds, the step, ascent, simulate, exact references."""

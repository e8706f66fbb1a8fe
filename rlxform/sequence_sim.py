"""Temporary alias of rlxform.sim.simulate (removed at integration; SeqSimConfig is SimConfig)."""

import sys

from rlxform.sim import simulate as _module

sys.modules[__name__] = _module

"""Temporary alias of rlxform.sim.sequence_tasks (removed at integration)."""

import sys

from rlxform.sim import sequence_tasks as _module

sys.modules[__name__] = _module

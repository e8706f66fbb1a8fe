"""Temporary alias of rlxform.core.ppo (removed at integration)."""

import sys

from rlxform.core import ppo as _module

sys.modules[__name__] = _module

"""Temporary alias of rlxform.core.kl (removed at integration)."""

import sys

from rlxform.core import kl as _module

sys.modules[__name__] = _module

"""Temporary alias of rlxform.core.noise (removed at integration)."""

import sys

from rlxform.core import noise as _module

sys.modules[__name__] = _module

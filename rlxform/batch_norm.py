"""Temporary alias of rlxform.core.batch_norm (removed at integration)."""

import sys

from rlxform.core import batch_norm as _module

sys.modules[__name__] = _module

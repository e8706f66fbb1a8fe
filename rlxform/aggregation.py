"""Temporary alias of rlxform.core.aggregation (removed at integration)."""

import sys

from rlxform.core import aggregation as _module

sys.modules[__name__] = _module

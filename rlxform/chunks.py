"""Temporary alias of rlxform.results.chunks (removed at integration)."""

import sys

from rlxform.results import chunks as _module

sys.modules[__name__] = _module

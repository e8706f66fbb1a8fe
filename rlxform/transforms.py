"""Temporary alias of rlxform.core.objective (removed at integration)."""

import sys

from rlxform.core import objective as _module

sys.modules[__name__] = _module

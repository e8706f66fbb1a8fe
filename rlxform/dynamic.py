"""Temporary alias of rlxform.core.dynamic (removed at integration)."""

import sys

from rlxform.core import dynamic as _module

sys.modules[__name__] = _module

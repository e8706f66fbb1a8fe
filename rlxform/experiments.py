"""Temporary alias of rlxform.reproduce.registry (removed at integration)."""

import sys

from rlxform.reproduce import registry as _module

sys.modules[__name__] = _module

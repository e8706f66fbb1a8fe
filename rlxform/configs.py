"""Temporary alias of rlxform.core.configs (removed at integration)."""

import sys

from rlxform.core import configs as _module

sys.modules[__name__] = _module

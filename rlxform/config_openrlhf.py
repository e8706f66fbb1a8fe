"""Temporary alias of rlxform.core.config_openrlhf (removed at integration)."""

import sys

from rlxform.core import config_openrlhf as _module

sys.modules[__name__] = _module

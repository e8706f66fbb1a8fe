"""Temporary alias of rlxform.core.config_readers (removed at integration)."""

import sys

from rlxform.core import config_readers as _module

sys.modules[__name__] = _module

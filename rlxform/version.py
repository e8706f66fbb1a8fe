"""The package version, in a module of its own: ``rlxform.__version__`` re-exports it, and
``rlxform.results`` reads it without importing the package (no import circle)."""

__version__ = "0.5.0"

"""Results on disk, one idea per module (the public API is this package's names).

``atomic`` (crash-safe writes, stale temporaries, writable directories), ``tables`` (tidy CSV
that reloads bitwise), ``metadata`` (config hash, versions, git revision, device), ``figures``
(``FigureFormat``, ``save_figure``) and ``outputs`` (``save_result``: an experiment's table,
figure and metadata as one ``Result``). Chunked, resumable runs: ``rlxform.results.chunks``.
"""

from rlxform.results.atomic import (
    PathLike,
    atomic_write_bytes,
    atomic_write_text,
    check_writable,
    remove_stale_temps,
)
from rlxform.results.figures import (
    FIGURE_FORMATS,
    FigureFormat,
    check_figure_format,
    save_figure,
    save_png,
)
from rlxform.results.metadata import (
    config_hash,
    git_revision,
    installed_commit,
    metadata,
    read_metadata,
    to_jsonable,
    write_metadata,
)
from rlxform.results.outputs import Progress, Result, Table, report_progress, save_result
from rlxform.results.tables import read_table, write_table

__all__ = [
    "FIGURE_FORMATS",
    "FigureFormat",
    "PathLike",
    "Progress",
    "Result",
    "Table",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_figure_format",
    "check_writable",
    "config_hash",
    "git_revision",
    "installed_commit",
    "metadata",
    "read_metadata",
    "read_table",
    "remove_stale_temps",
    "report_progress",
    "save_figure",
    "save_png",
    "save_result",
    "to_jsonable",
    "write_metadata",
    "write_table",
]

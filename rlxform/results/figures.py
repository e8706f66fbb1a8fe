"""Figure saving: ``FigureFormat`` (png, pdf or svg at a dpi) and atomic ``save_figure``."""

from __future__ import annotations

import io
from typing import Any, NamedTuple

from rlxform.results.atomic import PathLike, atomic_write_bytes
from rlxform.validation import InputError

FIGURE_FORMATS = ("png", "pdf", "svg")


class FigureFormat(NamedTuple):
    """How figures are written: ``format`` one of png, pdf, svg; ``dpi`` for raster output."""

    format: str = "png"
    dpi: int = 120


def check_figure_format(fmt: Any, dpi: Any, names: tuple[str, str] = ("format", "dpi")):
    """Validated ``FigureFormat``; InputError naming the option (``names``) otherwise."""
    if fmt not in FIGURE_FORMATS:
        allowed = ", ".join(FIGURE_FORMATS)
        raise InputError(f"{names[0]}={fmt!r} is invalid: must be one of {allowed}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 2400:
        raise InputError(f"{names[1]}={dpi!r} is invalid: must be an integer in [10, 2400]")
    return FigureFormat(fmt, dpi)


def save_figure(fig: Any, path: PathLike, figure: FigureFormat | None = None) -> None:
    """Write a matplotlib Figure to ``path`` atomically in ``figure``'s format and dpi."""
    figure = FigureFormat() if figure is None else figure
    buf = io.BytesIO()
    fig.savefig(buf, format=figure.format, dpi=figure.dpi)
    atomic_write_bytes(path, buf.getvalue())


def save_png(fig: Any, path: PathLike) -> None:
    """Write a matplotlib Figure ``fig`` to ``path`` as a 120 dpi PNG, atomically."""
    save_figure(fig, path, FigureFormat("png", 120))

"""The reader's kit under every figure: alt text, and downloads of the figure (SVG) and of its data.

Every ``fig_*`` function ends with ``return publish(fig, name, alt=..., table=...)`` (or ``rows=``
and ``provenance=``): the records it drew, and one sentence or three saying what is plotted (axes,
methods, the main takeaway, computed from the same records). Every kernel-free explorer ends with
``return with_downloads(twin, name, ...)``. Nothing else changes for the caller: the figure is the
same ``matplotlib.figure.Figure``, drawn by the same ``plt.show()``. Where it is *displayed* (a
Jupyter or Colab kernel, the book's build), it shows as one HTML block instead of a bare image::

    <figure class="coinfer-figure">
      <img alt="what the figure shows" src="data:image/png;base64,...">      the figure, with alt text
      <figcaption class="coinfer-downloads">Download: figure (SVG) | data (CSV) | data + provenance (JSON)

Where the links point:

* building the book (``book/_ext/coinfer_book.py`` sets ``COINFER_BOOK_SRCDIR`` and
  ``COINFER_BOOK_OUTDIR`` for the kernels): the files are written next to the built page, in
  ``_build/html/book/figure-data/<name>.{svg,csv,json}``, and the links are relative, so they work
  on any static host;
* anywhere else (Jupyter, Colab): the links carry the files themselves (``data:`` URIs with a
  ``download`` name), so nothing is written to the reader's disk;
* in a script or a test nothing is displayed, nothing is rendered, nothing written.

The CSV has one row per record (a record's ``extra`` flattened to ``extra.<key>`` columns); the
JSON holds the figure's name, caption and alt text, the provenance of its data (the table's, or
what computed it) and the records as they are.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> from coinfer.views.publish import publish, figure_html
>>> fig, ax = plt.subplots()
>>> _ = ax.plot([1, 2], [3, 4])
>>> fig = publish(fig, "example", alt="A rising line.", rows=[{"x": 1, "y": 3}, {"x": 2, "y": 4}])
>>> html = figure_html(fig)
>>> 'alt="A rising line."' in html, 'download="example.csv"' in html
(True, True)
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html as _html
import io
import json
import math
import os
import re
import struct
from pathlib import Path
from typing import Any, Iterable

__all__ = ["FigureData", "publish", "figure_html", "with_downloads", "record_rows", "rows_csv",
           "figure_json", "download_links", "output_folder", "FOLDER"]

#: The folder, beside a built page, that holds its figures' files.
FOLDER = "figure-data"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_PNG_DPI = 120          # the displayed image: sharp on a 1.2x screen ...
_CSS_DPI = 100          # ... and shown at matplotlib's 100 dpi size (max: the column's width)
_used: dict[str, int] = {}       # names written by this process (a page's kernel): latency, latency-2


@dataclasses.dataclass
class FigureData:
    """What :func:`publish` attaches to a figure (``fig.coinfer``)."""

    name: str
    alt: str
    rows: list
    provenance: Any = None
    caption: str = ""
    file_name: str | None = None      # the name its files got in this build (set when first shown)


def _check(name: str, alt: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"figure name {name!r} must be lower-case letters, digits and '-' (a file name)")
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(f"figure {name!r} needs an alt text saying what it shows, got {alt!r}")


def _rows_and_provenance(table, rows, provenance):
    if table is not None:
        rows = table.records if rows is None else rows
        provenance = table.provenance if provenance is None else provenance
    return list(rows or []), provenance


def publish(fig, name: str, *, alt: str, table=None, rows: Iterable | None = None, provenance=None,
            caption: str = ""):
    """Give ``fig`` its alt text and downloads; returns ``fig`` (see the module docstring).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The drawn figure.
    name : str
        Its file name, e.g. ``"tradeoff"`` (lower-case letters, digits, ``-``); a second figure of
        the same name on one page gets ``"tradeoff-2"``.
    alt : str
        What the figure shows: axes (with units), what is drawn per method, the main takeaway.
    table : coinfer.results.LookupTable, optional
        The table drawn: its records and provenance (``rows`` and ``provenance`` override them).
    rows : iterable, optional
        The records drawn: :class:`~coinfer.results.Record`, dataclasses, named tuples or dicts.
    provenance : Provenance, dict or list, optional
        Where the rows come from; default: "computed by coinfer" with its version and commit.
    caption : str
        A title for the files (the SVG's ``<title>``, the JSON's ``caption``).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig``, which now displays as the HTML block in Jupyter and the book.

    Raises
    ------
    ValueError
        For a name that is not a file name, or an empty alt text.
    """
    _check(name, alt)
    rows, provenance = _rows_and_provenance(table, rows, provenance)
    fig.coinfer = FigureData(name=name, alt=alt.strip(), rows=rows, provenance=provenance, caption=caption)
    # IPython asks an object for _repr_html_ when it displays it (plt.show() in a kernel does); the
    # book's build takes text/html before image/png, Jupyter and Colab too. Rendered only then.
    fig._repr_html_ = _FigureHTML(fig)
    return fig


class _FigureHTML:
    """``fig._repr_html_``: :func:`figure_html` of the figure (a class, not a lambda: a published
    figure still pickles)."""

    def __init__(self, fig):
        self.fig = fig

    def __call__(self) -> str:
        return figure_html(self.fig)


# ------------------------------------------------------------------------------------------------
# What a figure's files hold
# ------------------------------------------------------------------------------------------------

def _plain(value):
    """``value`` as plain JSON: numpy scalars and arrays, tuples, non-finite floats as strings."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)                     # "inf", "-inf", "nan": strict JSON has none of them
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if hasattr(value, "_asdict"):
        return _plain(value._asdict())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record_rows(rows: Iterable) -> list[dict]:
    """Records as plain dicts (:class:`~coinfer.results.Record`, dataclasses, named tuples, dicts).

    Parameters
    ----------
    rows : iterable

    Returns
    -------
    list of dict
        JSON-able: numpy numbers become Python ones, non-finite floats the strings ``"inf"``,
        ``"nan"``.

    Examples
    --------
    >>> from coinfer.views.publish import record_rows
    >>> record_rows([{"a": float("inf"), "b": (1, 2)}])
    [{'a': 'inf', 'b': [1, 2]}]
    """
    out = []
    for row in rows:
        if hasattr(row, "to_dict"):
            row = row.to_dict()
        row = _plain(row)
        if not isinstance(row, dict):
            raise ValueError(f"a figure's rows must be records or dicts, got {type(row).__name__}: {row!r}")
        out.append(row)
    return out


def rows_csv(rows: Iterable) -> str:
    """One CSV row per record; a nested ``extra`` becomes ``extra.<key>`` columns, lists JSON text.

    Parameters
    ----------
    rows : iterable
        As :func:`record_rows` takes them.

    Returns
    -------
    str

    Examples
    --------
    >>> from coinfer.views.publish import rows_csv
    >>> print(rows_csv([{"method": "png", "extra": {"images": 10}}, {"method": "x", "bits": [1, 2]}]).strip())
    method,extra.images,bits
    png,10,
    x,,"[1, 2]"
    """
    flat = []
    for row in record_rows(rows):
        line = {}
        for key, value in row.items():
            if isinstance(value, dict):
                line.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                line[key] = value
        flat.append({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in line.items()})
    columns = list(dict.fromkeys(k for line in flat for k in line))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()


def _provenance(provenance) -> Any:
    if provenance is None:
        from coinfer import __version__
        from coinfer.results_origin import git_commit

        return {"source": "computed by coinfer when the figure was drawn (no committed table)",
                "coinfer_version": __version__, "git_commit": git_commit()}
    return _plain(provenance)


def figure_json(data: FigureData) -> str:
    """The JSON download: name, caption, alt text, provenance and the records.

    Parameters
    ----------
    data : FigureData

    Returns
    -------
    str
    """
    return json.dumps({"figure": data.name, "caption": data.caption, "alt": data.alt,
                       "provenance": _provenance(data.provenance), "records": record_rows(data.rows)},
                      indent=1, allow_nan=False) + "\n"


# ------------------------------------------------------------------------------------------------
# Where the files go, and the HTML that links them
# ------------------------------------------------------------------------------------------------

def output_folder() -> Path | None:
    """Where the running page's files go while the book builds; ``None`` elsewhere.

    The book's Sphinx extension sets ``COINFER_BOOK_SRCDIR`` and ``COINFER_BOOK_OUTDIR``; a page's
    cells run in its own folder, so the page ``book/05_tradeoff`` writes to
    ``<outdir>/book/figure-data``.

    Returns
    -------
    pathlib.Path or None
    """
    src, out = os.environ.get("COINFER_BOOK_SRCDIR"), os.environ.get("COINFER_BOOK_OUTDIR")
    if not (src and out):
        return None
    try:
        page_dir = Path.cwd().resolve().relative_to(Path(src).resolve())
    except ValueError:                         # a kernel outside the book's sources
        return None
    return Path(out) / page_dir / FOLDER


def _file_name(data: FigureData, folder: Path | None) -> str:
    if data.file_name is None:
        if folder is None:
            data.file_name = data.name
        else:
            _used[data.name] = _used.get(data.name, 0) + 1
            data.file_name = data.name if _used[data.name] == 1 else f"{data.name}-{_used[data.name]}"
    return data.file_name


_MIME = {"svg": "image/svg+xml", "csv": "text/csv", "json": "application/json"}
# Dark text and links on white in both of the theme's modes (the dark theme's link colour on its
# light-grey output background reads at 2.2:1; this blue on white at over 6:1), as the explorers.
_CARD = "background:#fff;color:#1f2328;border-radius:4px;padding:4px 8px"
_LINK = "color:#0b5cad"
_LABEL = {"svg": "figure (SVG)", "csv": "data (CSV)", "json": "data and provenance (JSON)"}


def download_links(files: dict[str, bytes], stem: str, folder: Path | None, lead: str = "Download:") -> str:
    """The links block: ``files`` (``{"csv": bytes, ...}``) saved as ``stem.<ext>`` in ``folder``
    and linked relatively, or, without a folder, carried in ``data:`` URIs.

    Parameters
    ----------
    files : dict of str to bytes
        By extension: ``svg``, ``csv``, ``json``.
    stem : str
        The file name without extension.
    folder : pathlib.Path or None
        :func:`output_folder`.
    lead : str
        The text before the links.

    Returns
    -------
    str
        ``<div class="coinfer-downloads">...</div>``.
    """
    links = []
    for ext, content in files.items():
        name = f"{stem}.{ext}"
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
            href = f"{FOLDER}/{name}"
        else:
            href = f"data:{_MIME[ext]};base64,{base64.b64encode(content).decode()}"
        links.append(f'<a href="{_html.escape(href)}" download="{name}" style="{_LINK}">{_LABEL[ext]}</a>')
    return (f'<div class="coinfer-downloads" style="font-size:0.85em;margin:2px 0 10px;{_CARD}">{lead} '
            + " &middot; ".join(links) + "</div>")


def _png_size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def figure_html(fig) -> str:
    """The HTML block of a published figure: the image with its alt text, then the links.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Passed through :func:`publish`.

    Returns
    -------
    str
    """
    data: FigureData = fig.coinfer
    folder = output_folder()
    stem = _file_name(data, folder)
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=_PNG_DPI, bbox_inches="tight", facecolor="white")
    fig.savefig(svg, format="svg", bbox_inches="tight", facecolor="white",
                metadata={"Title": data.caption or data.name, "Description": data.alt})
    png = png.getvalue()
    width = round(_png_size(png)[0] * _CSS_DPI / _PNG_DPI)
    files = {"svg": svg.getvalue(), "csv": rows_csv(data.rows).encode(), "json": figure_json(data).encode()}
    image = (f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{_html.escape(data.alt)}" '
             f'width="{width}" style="max-width:100%;height:auto;background:#fff">')
    return (f'<figure class="coinfer-figure" data-figure="{stem}" style="margin:0;{_CARD}">{image}'
            f"{download_links(files, stem, folder)}</figure>")


def with_downloads(twin, name: str, *, table=None, rows: Iterable | None = None, provenance=None,
                   caption: str = ""):
    """A kernel-free explorer with its data's downloads (CSV, JSON) under it.

    Parameters
    ----------
    twin : coinfer.views.explorer.StaticExplorer
        The explorer.
    name : str
        Its files' name, e.g. ``"tradeoff-explorer"``.
    table, rows, provenance, caption
        As :func:`publish`.

    Returns
    -------
    coinfer.views.explorer.StaticExplorer
        The same explorer; its ``html`` ends with the links.

    Examples
    --------
    >>> from coinfer.views.explorer import Slider, static_explorer
    >>> from coinfer.views.publish import with_downloads
    >>> twin = static_explorer(data={"y": [1, 2]}, sliders=[Slider("i", "i", values=[0, 1])],
    ...                        render="function (data, state, util) { return {}; }")
    >>> twin = with_downloads(twin, "tiny", rows=[{"i": 0, "y": 1}, {"i": 1, "y": 2}])
    >>> twin.html.startswith('<div class="coinfer-explorer"'), 'download="tiny.json"' in twin.html
    (True, True)
    """
    rows, provenance = _rows_and_provenance(table, rows, provenance)
    data = FigureData(name=name, alt="", rows=rows, provenance=provenance, caption=caption)
    _check(name, "explorer")
    folder = output_folder()
    files = {"csv": rows_csv(rows).encode(), "json": figure_json(data).encode()}
    links = download_links(files, _file_name(data, folder), folder, lead="Download the explorer's data:")
    return dataclasses.replace(twin, html=twin.html + "\n" + links)

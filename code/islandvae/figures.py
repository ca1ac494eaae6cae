"""The report's one figure style, shared by every stage: figures saved under stable names, sized for print.

Works the same under Quarto and under the pip-only renderer: a chunk shows a figure by returning
or displaying it, and `save_figure` also writes it to figures/<name>.png for the summary and the zip.
"""

from __future__ import annotations

import matplotlib

from islandvae.config import Config, load_config, quarto_project


def setup() -> Config:
    """Set the report's figure style and return the config in use (see ISLANDVAE_CONFIG)."""
    matplotlib.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "figure.figsize": (6.4, 3.6),
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return load_config()


PAPER_WIDTH_IN = {"a4": 210 / 25.4, "us-letter": 8.5, "letter": 8.5}
UNITS_PER_IN = {"in": 1.0, "cm": 2.54, "mm": 25.4, "pt": 72.0}
LEGIBLE_PT = 7.0  # the smallest text a printed figure may hold (the PDF tests check every saved figure)
PRINT_FONT_KEY = "islandvae print font pt"  # a saved figure's smallest text at print size, in its PNG metadata


def length_in(value) -> float:
    """A Typst length of the front matter ('2.2cm', '1.25in', '12pt') in inches."""
    import re

    found = re.fullmatch(r"\s*([0-9.]+)\s*(in|cm|mm|pt)\s*", str(value))
    if not found:
        raise ValueError(f"a length such as 2.2cm, 1.25in or 12pt, not {value!r}")
    return float(found.group(1)) / UNITS_PER_IN[found.group(2)]


def margin_x_in(typst: dict) -> float:
    """The left and right margin in inches of a document with these typst options (Typst's pandoc template
    default, 1.25 in, where none is set)."""
    margin = typst.get("margin") or {}
    return length_in(margin.get("x", margin.get("left", "1.25in")) if isinstance(margin, dict) else margin)


def print_width_in() -> float:
    """The PDF's text width in inches, from _quarto.yml's typst papersize and margin: a figure wider than this is
    scaled down to it."""
    typst = quarto_project().get("format", {}).get("typst") or {}
    return PAPER_WIDTH_IN.get(str(typst.get("papersize", "a4")), PAPER_WIDTH_IN["a4"]) - 2 * margin_x_in(typst)


def print_font_pt(fig) -> float:
    """The smallest visible text of `fig` in points as printed: its font size, times the scale at which the PDF
    shows the figure (its tight bounding box, shrunk to the text width when wider)."""
    import matplotlib.text

    renderer = fig.canvas.get_renderer()
    scale = min(1.0, print_width_in() / fig.get_tightbbox(renderer).width)
    sizes = [
        t.get_fontsize()
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_visible() and t.get_text().strip() and t.get_window_extent(renderer).width > 0
    ]
    return min(sizes) * scale if sizes else float("inf")


def save_figure(fig, name: str, *, show: bool = True) -> None:
    """Write `fig` to <paths.figures>/<name>.png (a stable name the summary and the zip reuse), show it, close it.

    Showing it explicitly (unless `show` is False: a figure for the summary alone) and closing it makes a
    chunk's output exactly one image, whatever the
    backend's interactive mode, under Quarto and the pip-only renderer alike. The PNG's metadata holds the
    figure's smallest text at print size (print_font_pt), which the PDF tests hold against LEGIBLE_PT.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import display

    from islandvae.files import folder, write_atomic

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={PRINT_FONT_KEY: f"{print_font_pt(fig):.2f}"})
    write_atomic(folder(load_config().paths.figures, "figures") / f"{name}.png", buffer.getvalue())
    if show:
        display(fig)
    plt.close(fig)


def tile_grid(tiles, *, columns: int = 8, titles: list[str] | None = None, size: float = 1.1):
    """A matplotlib figure of tiles (N, s, s) in grey values 0..255, one axis per tile."""
    import matplotlib.pyplot as plt

    rows = -(-len(tiles) // columns)
    size = min(size, print_width_in() / columns)  # never wider than the PDF's text: titles print at their size
    title = 2.2 * LEGIBLE_PT / 72 if titles else 0.0  # room above every row for its titles (inches)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(columns * size, rows * (size + title)),
        squeeze=False,
        gridspec_kw={"wspace": 0.06, "hspace": title / size + 0.04},
    )
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(tiles):
            ax.imshow(tiles[k], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if titles and titles[k]:
                ax.set_title(titles[k], fontsize=LEGIBLE_PT, pad=2)
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=1 - title / (rows * (size + title)) - 0.005)
    return fig

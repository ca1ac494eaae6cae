"""An interactive latent map for the HTML report: hover a point, see its tile. Works offline from the file alone.

The page part is plain SVG and a few lines of JavaScript written here (no library, no CDN); the tiles
are one JPEG sprite sheet inlined as base64, so the HTML file carries everything it shows.
"""

from __future__ import annotations

import base64
import html
import io
import json

import numpy as np
from PIL import Image

SIZE = 360  # px of the map
TILE = 48  # px of each tile in the sprite sheet


def sprite_sheet(grey: np.ndarray, tile: int = TILE) -> tuple[str, int]:
    """Tiles (N, s, s) in 0..255 as one JPEG (base64), `columns` tiles per row."""
    n = len(grey)
    columns = int(np.ceil(np.sqrt(n)))
    sheet = Image.new("L", (columns * tile, int(np.ceil(n / columns)) * tile), 255)
    for k, g in enumerate(grey):
        img = Image.fromarray(np.clip(g, 0, 255).astype(np.uint8)).resize((tile, tile), Image.BILINEAR)
        sheet.paste(img, ((k % columns) * tile, (k // columns) * tile))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=80)
    return base64.b64encode(buffer.getvalue()).decode(), columns


def explorer_html(xy: np.ndarray, grey: np.ndarray, colours: list[str], titles: list[str], *, ident: str = "lx") -> str:
    """An SVG scatter of `xy` whose points show their tile (and title) when the mouse is over them."""
    lo, hi = xy.min(0), xy.max(0)
    pts = (xy - lo) / np.where(hi > lo, hi - lo, 1) * (SIZE - 20) + 10
    sheet, columns = sprite_sheet(grey)
    circles = "".join(
        f'<circle cx="{x:.1f}" cy="{SIZE - y:.1f}" r="2.6" fill="{c}" data-k="{k}"/>'
        for k, ((x, y), c) in enumerate(zip(pts, colours))
    )
    script = f"""
(function() {{
  var root = document.getElementById("{ident}"), titles = {json.dumps(titles)};
  var tile = root.querySelector(".lx-tile"), caption = root.querySelector(".lx-caption");
  root.querySelector("svg").addEventListener("mouseover", function(e) {{
    var k = e.target.getAttribute("data-k");
    if (k === null) return;
    k = Number(k);
    tile.style.backgroundPosition = (-(k % {columns}) * {TILE}) + "px " + (-Math.floor(k / {columns}) * {TILE}) + "px";
    tile.style.visibility = "visible";
    caption.textContent = titles[k];
  }});
}})();"""
    return (
        f'<div id="{ident}" style="display:flex;gap:12px;align-items:flex-start;font-size:12px">'
        f'<svg width="{SIZE}" height="{SIZE}" style="border:1px solid #ccc;cursor:crosshair">{circles}</svg>'
        f'<div><div class="lx-tile" style="width:{TILE}px;height:{TILE}px;transform:scale(2.5);'
        f"transform-origin:top left;margin-bottom:{int(TILE * 1.6)}px;visibility:hidden;"
        f'background-image:url(data:image/jpeg;base64,{sheet})"></div>'
        f'<div class="lx-caption">{html.escape("hover a point to see its tile")}</div></div>'
        f"<script>{script}</script></div>"
    )


PALETTE = {"granular": "#d62728", "parvicellular": "#1f77b4", "plain": "#999999"}  # other labels: green


def explorer_block(xy: np.ndarray, test, stats, *, labelled: bool) -> str:
    """The explorer of the test tiles `test` (a TileSet) at `xy`, coloured by truth label where `labelled`, as a raw
    HTML block for markdown: a text/html output would make Quarto add CDN scripts to the page."""
    label = test.label if labelled else np.array([""] * len(test.keys))
    colours = [PALETTE.get(name, "#2ca02c") for name in label]
    grey = (test.tiles[:, 0] * stats.std + stats.mean).numpy()
    titles = [f"{k[0]}/{k[1]} at ({k[2]}, {k[3]}) {name}" for k, name in zip(test.keys, label)]
    return "```{=html}\n" + explorer_html(xy, grey, colours, titles) + "\n```"

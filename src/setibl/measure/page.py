"""Pieces of self-contained HTML pages (run report, scan report): style, embedded pictures,
tables, and a script that marks the page once every picture has decoded."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

# Marks the page once every image has decoded: body[data-images-loaded="ok/total"].
IMAGE_CHECK = """<script>
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  var ok = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + images.length);
});
</script>"""

STYLE = """<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
pre { background: #f7f7f7; padding: 1em; overflow: auto; font-size: 0.8em; }
</style>"""


def embedded_image(path: Path, alt: str) -> str:
    """An <img> holding the PNG at ``path`` as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0)

"""The committed reproductions of the dd25 Figs. 1–3 (``verification/dd25_figures.py``, run at
d = 40), shipped as package data so that an installed wheel's report has them too."""
from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from ..figures import Figure

__all__ = ["committed_folder", "committed"]


def committed_folder():
    """The folder (a package resource) holding fig1–3.png and dd25_figures.json."""
    return files(__package__) / "committed_figures"


def committed(fig: str, out_dir) -> list[Figure]:
    """The committed figure ``fig`` ("fig1", "fig2", "fig3") copied into ``out_dir``, with its caption
    (none if the file is missing)."""
    folder = committed_folder()
    meta_file, png = folder / "dd25_figures.json", folder / f"{fig}.png"
    if not (meta_file.is_file() and png.is_file()):
        return []
    meta = json.loads(meta_file.read_text(encoding="utf-8")).get("figures", {}).get(fig, {})
    dst = Path(out_dir) / f"dd25_{fig}.png"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(png.read_bytes())
    caption = (f"dd25 {meta.get('paper', fig)} reproduced "
               f"(verification/dd25_figures.py, committed run): {meta.get('caption', '')}")
    return [Figure(dst, caption, None)]

"""The run page as a real browser draws it (scripts/screenshot_page.py, headless Chromium).

Runs only where a Chromium is installed (the distribution's `chromium` package; CI machines
usually have none, so the HTML itself is checked without a browser in test_report_html.py).
"""
import shutil
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from scratchae.report_html import Page, write_page

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import screenshot_page  # noqa: E402

pytestmark = pytest.mark.skipif(screenshot_page.find_browser() is None,
                                reason="no Chromium installed (apt-get install chromium)")

#: A colour no text or rule of the page uses: a figure's fill, so its pixels show it was drawn.
FILL = (0.9, 0.1, 0.6)


def a_run_folder(folder: Path) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.fill_between([0, 1, 2], [0, 2, 1], color=FILL)
    fig.savefig(folder / "curve.png", dpi=100)
    write_page(Page(title="a run", intro=["one figure"], settings=[("seed", "0")], data=[],
                    table_head=["model", "loss"], table_rows=[["vanilla", "0.1"]], table_notes=[],
                    figures=[("curve.png", "A curve", "what it shows")], links=[]), str(folder))


def fill_pixels(png: Path) -> int:
    pixels = matplotlib.image.imread(png)[..., :3]
    return int(np.all(np.abs(pixels - np.array(FILL)) < 0.04, axis=-1).sum())


def test_the_page_and_its_figure_are_drawn(tmp_path):
    a_run_folder(tmp_path)
    height, width = screenshot_page.screenshot(tmp_path, tmp_path / "shot.png", width=1000)
    assert width == 1000 and 300 < height < screenshot_page.WINDOW_HEIGHT   # trimmed below the page
    assert fill_pixels(tmp_path / "shot.png") > 20_000               # the figure's fill, on screen


def test_a_figure_that_does_not_load_is_seen(tmp_path):
    a_run_folder(tmp_path)
    (tmp_path / "curve.png").write_bytes(b"not a png")              # a broken figure file
    screenshot_page.screenshot(tmp_path, tmp_path / "shot.png", width=1000)
    assert fill_pixels(tmp_path / "shot.png") == 0


def test_a_folder_without_a_page_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run page at"):
        screenshot_page.screenshot(tmp_path, tmp_path / "shot.png")

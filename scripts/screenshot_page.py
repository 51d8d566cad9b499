"""A run page (index.html) as a real browser draws it: a PNG screenshot from headless Chromium.

    python scripts/screenshot_page.py RUN_FOLDER [--out page.png] [--width 1280]

Opens RUN_FOLDER/index.html (what `scratchae train` or `scratchae demo` wrote) in headless
Chromium (the distribution's `chromium` package, or $CHROMIUM), with a window tall enough for
the whole page, and writes the screenshot with the blank space below the page cut off. Prints
the PNG's path and size. Look at it before calling a page done: a figure that did not load, a
caption that contradicts its figure, a table that runs off the side.

This is a tool for people; tests/test_page_browser.py runs it where Chromium is installed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Browsers tried, in order, when $CHROMIUM is not set.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: The window's height: taller than any run page (a train page is about 9,000 pixels at 1280).
WINDOW_HEIGHT = 16000


def find_browser() -> str | None:
    """The Chromium to use: $CHROMIUM if set, else the first of BROWSERS on the PATH."""
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named) or (named if os.path.isfile(named) else None)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(folder: str | os.PathLike, out: str | os.PathLike, width: int = 1280,
               timeout: float = 120.0) -> tuple[int, int]:
    """Draw FOLDER/index.html in headless Chromium into the PNG `out`, trimmed below the page's
    last non-white row; its (height, width) in pixels."""
    import matplotlib.image

    page = Path(folder).resolve() / "index.html"
    if not page.is_file():
        raise FileNotFoundError(f"no run page at {page}: pass the folder a `scratchae train` or "
                                "`scratchae demo` run wrote")
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found (install the distribution's chromium package, "
                                "or set $CHROMIUM to a Chromium or Chrome binary)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "page.png")
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--user-data-dir={tmp}/profile", f"--window-size={width},{WINDOW_HEIGHT}",
                   f"--screenshot={raw}", page.as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not os.path.isfile(raw):
            raise RuntimeError(f"{browser} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        pixels = matplotlib.image.imread(raw)[..., :3]
    rows = (pixels < 0.97).any(axis=(1, 2)).nonzero()[0]
    bottom = int(rows.max()) + 40 if len(rows) else 1
    trimmed = pixels[:min(bottom, len(pixels))]
    matplotlib.image.imsave(out, trimmed)
    return trimmed.shape[0], trimmed.shape[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a run folder holding index.html")
    parser.add_argument("--out", default="page.png", help="the screenshot to write (default: page.png)")
    parser.add_argument("--width", type=int, default=1280, help="the window's width in pixels")
    args = parser.parse_args(argv)
    try:
        height, width = screenshot(args.folder, args.out, args.width)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"screenshot_page: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {width} x {height} pixels")
    return 0


if __name__ == "__main__":
    sys.exit(main())

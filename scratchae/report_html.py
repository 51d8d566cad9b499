"""One static HTML page per run: `index.html` in the run's folder, beside its files.

    page = Page(title="scratchae train vanilla", settings=[("epochs", "3")], ...)
    write_page(page, "runs/vanilla")            # runs/vanilla/index.html

The page shows the run's settings and data, its results table, every figure with a one-line
caption saying what to look at, and links to the model file and the history. It is plain
HTML with a little inline CSS: no JavaScript, nothing fetched from the network, readable in
any browser and correct when opened from the folder, because every image and link is a
file name in that folder (a relative URL; a path or a URL is refused). Every text is
HTML-escaped, file names are URL-quoted.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from urllib.parse import quote

from ._files import atomic_write

__all__ = ["Page", "render", "write_page"]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1.2em; }
dt { font-weight: 600; } dd { margin: 0; }
figure { margin: 1.6em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; margin-top: 0.3em; }
p.note { color: #555; font-size: 0.95em; }
"""


@dataclass
class Page:
    """What a run page shows. Texts are plain text (escaped when rendered); `figures` and
    `links` name files in the page's folder."""

    title: str
    intro: list[str] = field(default_factory=list)                  # paragraphs
    settings: list[tuple[str, str]] = field(default_factory=list)   # (name, value)
    data: list[tuple[str, str]] = field(default_factory=list)       # (name, value)
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    table_notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, str, str]] = field(default_factory=list)   # (file, heading, caption)
    links: list[tuple[str, str]] = field(default_factory=list)          # (file, what it holds)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _url(name: str) -> str:
    """A file name of the page's folder as a relative URL; anything else is refused."""
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
            or ":" in name or name.startswith("#")):
        raise ValueError(f"a page can only reference files in its own folder, by name; got {name!r}")
    return quote(name)


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("%x"))
        return True
    except ValueError:
        return False


def _pairs(rows: list[tuple[str, str]]) -> str:
    return "<dl>\n" + "".join(f"  <dt>{_e(k)}</dt><dd>{_e(v)}</dd>\n" for k, v in rows) + "</dl>\n"


def render(page: Page) -> str:
    """The page as an HTML5 document (a str)."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_e(page.title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{_e(page.title)}</h1>"]
    out += [f"<p>{_e(p)}</p>" for p in page.intro]
    if page.settings:
        out += ["<h2>Settings</h2>", _pairs(page.settings)]
    if page.data:
        out += ["<h2>Data</h2>", _pairs(page.data)]
    if page.table_head:
        out += ["<h2>Results</h2>", "<table>", "<thead><tr>"]
        numeric = [all(_numeric(r[i]) for r in page.table_rows) if page.table_rows else False
                   for i in range(len(page.table_head))]
        cls = [' class="num"' if num else "" for num in numeric]
        out += [f"<th{cls[i]}>{_e(h)}</th>" for i, h in enumerate(page.table_head)]
        out += ["</tr></thead>", "<tbody>"]
        for row in page.table_rows:
            cells = "".join(f"<td{cls[i]}>{_e(c)}</td>" for i, c in enumerate(row))
            out.append(f"<tr>{cells}</tr>")
        out += ["</tbody>", "</table>"]
        out += [f'<p class="note">{_e(n)}</p>' for n in page.table_notes]
    if page.figures:
        out.append("<h2>Figures</h2>")
        for name, heading, caption in page.figures:
            out += ["<figure>", f"<h3>{_e(heading)}</h3>",
                    f'<img src="{_e(_url(name))}" alt="{_e(heading)}">',
                    f"<figcaption>{_e(caption)} <small>({_e(name)})</small></figcaption>", "</figure>"]
    if page.links:
        out += ["<h2>Files</h2>", "<ul>"]
        out += [f'<li><a href="{_e(_url(name))}">{_e(name)}</a>: {_e(what)}</li>' for name, what in page.links]
        out.append("</ul>")
    out += ['<p class="note">Written by scratchae. A static page: open it from its folder; '
            "every image and link is a file beside it.</p>", "</body>", "</html>", ""]
    return "\n".join(out)


def write_page(page: Page, folder: str | os.PathLike, name: str = "index.html") -> str:
    """Render `page` into folder/name (atomically) and return the path. Every file the page
    references must already exist in the folder (a FileNotFoundError names the first missing
    one), so a page never shows a broken image or link."""
    folder = os.fspath(folder)
    for file in [f for f, _, _ in page.figures] + [f for f, _ in page.links]:
        _url(file)
        if not os.path.isfile(os.path.join(folder, file)):
            raise FileNotFoundError(f"the page references {file!r}, which is not in {folder!r}")
    text = render(page)
    path = os.path.join(folder, name)
    atomic_write(path, lambda f: f.write(text), text=True)
    return path

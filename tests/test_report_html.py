"""The run page: static HTML whose every image and link is a file in its own folder, every text
escaped. Parsed back with the standard library's html.parser, as a browser would read it."""
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from scratchae.report_html import Page, render, write_page


class Collect(HTMLParser):
    """Every referenced URL (img src, a href, and any src/href/action elsewhere), the tags, the text."""

    def __init__(self):
        super().__init__()
        self.urls, self.tags, self.text, self.images, self.links = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "data"):
                self.urls.append(value)
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src"))
        if tag == "a":
            self.links.append(a.get("href"))

    def handle_data(self, data):
        self.text.append(data)


def check_page(folder: Path, name: str = "index.html") -> Collect:
    """Parse folder/name and check every image and link is a file in the folder, by a relative
    URL; no script, no external resource. Returns the parser (for more checks)."""
    parsed = Collect()
    parsed.feed((folder / name).read_text(encoding="utf-8"))
    parsed.close()
    assert "script" not in parsed.tags and "iframe" not in parsed.tags
    for url in parsed.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and not url.startswith("/"), url
        target = folder / unquote(parts.path)
        assert target.resolve().parent == folder.resolve(), url
        assert target.is_file(), f"{name} references {url}, which is not in {folder}"
    return parsed


def make_files(folder: Path, *names: str) -> None:
    for n in names:
        (folder / n).write_bytes(b"x")


def page(**kw) -> Page:
    base = dict(title="run <1> & co", intro=['He said "hi" <script>alert(1)</script>'],
                settings=[("l1", "1e-05"), ("odd <key>", "a & b")], data=[("dataset", "mnist-5k")],
                table_head=["model", "loss"], table_rows=[["sparse <l1>", "0.1325"]],
                table_notes=["loss = recon + penalty"],
                figures=[("my fig #1.png", "A <figure>", "look at <this> & that")],
                links=[("model.npz", "the model"), ("history.json", "the history")])
    base.update(kw)
    return Page(**base)


def test_written_page_references_only_files_of_its_folder(tmp_path):
    make_files(tmp_path, "my fig #1.png", "model.npz", "history.json")
    path = write_page(page(), tmp_path)
    assert Path(path) == tmp_path / "index.html"
    parsed = check_page(tmp_path)
    assert parsed.images == ["my%20fig%20%231.png"]                  # URL-quoted, relative
    assert parsed.links == ["model.npz", "history.json"]
    text = "".join(parsed.text)
    # every text comes back exactly as given: escaped in the file, so parsed as text, not tags
    for shown in ("run <1> & co", '"hi" <script>alert(1)</script>', "odd <key>", "a & b",
                  "sparse <l1>", "look at <this> & that", "A <figure>"):
        assert shown in text, shown
    raw = (tmp_path / "index.html").read_text()
    assert "<script>" not in raw and "<l1>" not in raw and raw.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in raw and "http" not in raw


def test_the_check_above_fails_on_a_missing_file(tmp_path):
    make_files(tmp_path, "my fig #1.png", "model.npz", "history.json")
    write_page(page(), tmp_path)
    (tmp_path / "model.npz").unlink()
    with pytest.raises(AssertionError, match="model.npz"):
        check_page(tmp_path)


def test_a_page_is_not_written_with_a_missing_file(tmp_path):
    make_files(tmp_path, "model.npz", "history.json")
    with pytest.raises(FileNotFoundError, match="my fig #1.png"):
        write_page(page(), tmp_path)
    assert not (tmp_path / "index.html").exists()


@pytest.mark.parametrize("name", ["../up.png", "/etc/passwd", "sub/fig.png", "http://x.org/a.png",
                                  "C:\\fig.png", "", "..", "#top"])
def test_only_plain_file_names_can_be_referenced(tmp_path, name):
    with pytest.raises(ValueError, match="its own folder"):
        render(page(figures=[(name, "f", "c")]))


def test_numbers_are_right_aligned_and_text_is_not():
    html = render(page(table_head=["model", "loss", "epochs"],
                       table_rows=[["a", "0.1", "3"], ["b", "1,234", "20"]]))
    assert '<th>model</th>' in html and '<th class="num">loss</th>' in html
    assert '<td>a</td><td class="num">0.1</td><td class="num">3</td>' in html

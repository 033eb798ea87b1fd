"""A documentation site (Sphinx, MkDocs) read into passages.

tests/data/docs/ holds pages saved from Python 3.11's documentation (Debian's python3.11-doc),
cut down to a few entries but with their markup as Sphinx wrote it.
"""

import shutil
from pathlib import Path

import pytest

from assistant.index import index_paths
from assistant.ingest.loaders import load_document
from assistant.ingest.passages import SourceFile, load_passages, walk
from assistant.store import StoreLocation

DOCS = Path(__file__).parent / "data" / "docs"
PAGES = ["library/functions.html", "tutorial/introduction.html"]
CHROME = [
    "Navigation",
    "previous |",
    "next |",
    "© Copyright",
    "Copyright",
    "Theme",
    "Show Source",
    "Quick search",
    "Table of Contents",
    "Previous topic",
    "Please donate",
    "Report a Bug",
    "¶",
]


@pytest.fixture(scope="module")
def passages(embeddings):
    """Each page's passages, cut to the packaged model's window as indexing cuts them."""
    return {
        page: load_passages(
            SourceFile(DOCS / page, page),
            max_tokens=embeddings.max_tokens,
            count_tokens=embeddings.count_tokens,
        )
        for page in PAGES
    }


def test_an_api_entry_keeps_its_name_with_its_description(passages):
    texts = [p.page_content for p in passages["library/functions.html"]]
    enumerate_ = [t for t in texts if "Return an enumerate object" in t]
    assert len(enumerate_) == 1
    assert enumerate_[0].startswith("enumerate(iterable, start=0) — Return an enumerate object.")
    # Several signatures of one entry stay with their one description.
    bytearray_ = next(t for t in texts if "Return a new array of bytes" in t)
    assert bytearray_.startswith("class bytearray(source=b'')\nclass bytearray(source, encoding)")


def test_no_fragment_is_a_passage_of_its_own(passages):
    for page, found in passages.items():
        short = [p.page_content for p in found if len(p.page_content) < 20]
        assert short == [], page
    # The index letters and bare names of the table of built-ins are one passage, not 70.
    texts = [p.page_content for p in passages["library/functions.html"]]
    table = next(t for t in texts if t.startswith("Built-in Functions\nA\nabs()\naiter()"))
    assert "\nE\nenumerate()\n" in table


def test_site_chrome_is_dropped(passages):
    for found in passages.values():
        text = "\n".join(p.page_content for p in found)
        for chrome in CHROME:
            assert chrome not in text


def test_headings_are_the_section(passages):
    found = passages["tutorial/introduction.html"]
    assert all(p.metadata["title"].startswith("3. An Informal Introduction") for p in found)

    def section_of(start: str) -> str:
        return next(p.metadata["section"] for p in found if p.page_content.startswith(start))

    assert section_of("In the following examples") == "3. An Informal Introduction to Python"
    assert section_of("Let’s try some simple") == "3.1. Using Python as a Calculator"
    assert section_of("The interpreter acts as a simple calculator") == "3.1.1. Numbers"
    # Headings are not passages, and their permalink sign is gone.
    assert not any(p.page_content.startswith("3.1.1. Numbers") for p in found)


def test_code_blocks_keep_their_lines(passages):
    texts = [p.page_content for p in passages["library/functions.html"]]
    code = next(t for t in texts if "def enumerate(" in t)
    assert code == (
        "Equivalent to:\n"
        "def enumerate(iterable, start=0):\n"
        "    n = start\n"
        "    for elem in iterable:\n"
        "        yield n, elem\n"
        "        n += 1"
    )
    intro = [p.page_content for p in passages["tutorial/introduction.html"]]
    assert ">>> 17 / 3  # classic division returns a float\n5.666666666666667\n>>>" in "\n".join(
        intro
    )


def test_a_long_code_block_is_cut_between_lines(tmp_path, embeddings):
    lines = [
        f"    total_{i} = compute(values[{i}], weight={i * 7}, label='row {i}')" for i in range(150)
    ]
    page = tmp_path / "long.html"
    page.write_text(
        "<html><head><title>Long</title></head><body><div role='main'><h1>Long</h1>"
        "<p>A long listing of code follows here.</p><pre>def listing():\n"
        + "\n".join(lines)
        + "</pre></div></body></html>"
    )
    found = load_passages(
        SourceFile(page, "long.html"),
        max_tokens=embeddings.max_tokens,
        count_tokens=embeddings.count_tokens,
    )
    parts = [p for p in found if p.metadata.get("part")]
    assert len(parts) > 2
    whole = {"def listing():", *lines}
    for part in parts:
        assert embeddings.count_tokens(part.page_content) <= embeddings.max_tokens
        assert set(part.page_content.split("\n")) <= whole  # every line whole


def test_generated_index_pages_are_skipped_and_counted():
    found = walk([DOCS])
    assert sorted(f.source for f in found.files) == sorted(PAGES)
    assert found.skipped == [
        (f"{DOCS.as_posix()}/", "1 generated index or search page: genindex-A.html.")
    ]
    # Given by its own path, the page is read as any other.
    assert "a2b_hex() (in module binascii)" in load_document(DOCS / "genindex-A.html").pages[0].text


def test_unsupported_files_are_one_line_of_the_report(tmp_path, embeddings):
    site = tmp_path / "site"
    shutil.copytree(DOCS, site)
    static = site / "_static"
    static.mkdir()
    for i in range(3):
        (static / f"script{i}.js").write_text("x()")
        (static / f"image{i}.png").write_bytes(b"\x89PNG")
    (static / "image3.png").write_bytes(b"\x89PNG")
    (static / "theme.css").write_text("p {}")
    (site / "objects.inv").write_bytes(b"# Sphinx inventory")
    (site / "_sources").mkdir()
    (site / "_sources" / "index.rst.txt").write_text("Title\n=====\n\nThe source of a page.")
    location = StoreLocation(tmp_path / "index", "docs")
    report = index_paths([site], location=location, embeddings=embeddings, progress=False)
    assert report.failed == []
    assert [w["warning"] for w in report.warnings] == [
        "skipped: 9 files of unsupported types: .png 4, .js 3, .css 1, .inv 1 "
        "(supported: .txt, .md, .html, .htm, .pdf, .docx).",
        "skipped: 1 generated index or search page: genindex-A.html.",
        "skipped: 1 page source copied by Sphinx: _sources/index.rst.txt.",
    ]
    assert {w["source"] for w in report.warnings} == {f"{site.as_posix()}/"}
    assert report.added == 18 + 24  # functions.html and introduction.html


MKDOCS_MATERIAL = """<!doctype html><html><head><title>Setup - My Project</title></head><body>
<header class="md-header"><nav class="md-header__inner">My Project Search</nav></header>
<div class="md-container"><main class="md-main"><div class="md-main__inner">
<div class="md-sidebar md-sidebar--primary"><nav class="md-nav">Home Setup Reference</nav></div>
<div class="md-sidebar md-sidebar--secondary"><nav class="md-nav">Table of contents</nav></div>
<div class="md-content"><article class="md-content__inner md-typeset">
<a href="edit" class="md-content__button md-icon" title="Edit this page">Edit</a>
<h1 id="setup">Setup<a class="headerlink" href="#setup" title="Permanent link">&para;</a></h1>
<p>Install the package with pip before anything else.</p>
<div class="highlight"><pre><span></span><code>pip install my-project
my-project --help
</code></pre><button class="md-clipboard md-icon" title="Copy to clipboard"></button></div>
<h2 id="config">Configuration<a class="headerlink" href="#config">&para;</a></h2>
<p>Settings are read from the environment when the program starts.</p>
</article></div></div></main>
<footer class="md-footer"><div class="md-copyright">Made with Material for MkDocs</div>
</footer></div></body></html>"""


def test_mkdocs_material_page(tmp_path):
    page = tmp_path / "setup.html"
    page.write_text(MKDOCS_MATERIAL)
    found = load_passages(SourceFile(page, "setup.html"))
    assert [(p.page_content, p.metadata["section"]) for p in found] == [
        ("Install the package with pip before anything else.", "Setup"),
        ("pip install my-project\nmy-project --help", "Setup"),
        ("Settings are read from the environment when the program starts.", "Configuration"),
    ]
    assert found[0].metadata["title"] == "Setup - My Project"

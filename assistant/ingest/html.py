"""Read a web page into paragraphs: documentation sites (Sphinx, MkDocs) included.

The page's chrome (navigation, sidebars, headers, footers, search boxes, permalink and copy
buttons) is dropped and its main content read. Each block element becomes a paragraph:
a heading (``<h1>``–``<h6>``, which becomes the ``section`` of what follows), code
(``<pre>``, its lines kept, never cut mid-line) or text. An API entry's ``<dt>`` signature is
joined to the first paragraph of its ``<dd>`` ("enumerate(iterable, start=0) — Return an
enumerate object. …"), so that the passage names what it describes, and runs of fragments
too short to answer anything (index letters, bare names in a table) are joined into one
paragraph, or to the next paragraph, rather than each becoming a passage.

An API entry's signature often leaves out what it belongs to (Sphinx writes ``pop(key[,
default])`` for ``dict.pop`` inside the ``dict`` class's entry); its ``<dt>``'s ``id`` names
it in full. Every paragraph of the entry (the signature's and the rest of its ``<dd>``) is
marked with that qualified name (:attr:`HtmlText.entries`): the index reads it as part of the
passage's context (:mod:`assistant.ingest.context`), the passage's text stays the page's.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

# lxml is faster and more forgiving of broken markup; html.parser is always there.
_HTML_PARSER = "lxml" if importlib.util.find_spec("lxml") else "html.parser"

#: Fragments shorter than this (characters), or of one word, are joined to their neighbours.
MIN_PARAGRAPH_CHARS = 20

_DROP_TAGS = {
    "script",
    "style",
    "noscript",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "template",
    "svg",
    "iframe",
    "object",
    "canvas",
    "button",
    "select",
    "head",
}
# A documentation site's chrome, by role and by the class names of Sphinx's themes (basic,
# alabaster, Read the Docs, Furo, PyData) and of MkDocs (mkdocs, Material). Matched in one pass
# over the tags: CSS selectors (soupsieve) took three times as long as parsing the page.
_DROP_ROLES = {"navigation", "search", "banner", "contentinfo"}
_DROP_LABELS = {"breadcrumb", "breadcrumbs"}
_DROP_IDS = {"searchbox"}
_DROP_CLASSES = {
    "headerlink",
    "related",
    "sphinxsidebar",
    "sphinxsidebarwrapper",
    "footer",
    "copybtn",
    "copybutton",
    "wy-nav-side",
    "wy-breadcrumbs",
    "rst-footer-buttons",
    "rst-versions",
    "sidebar-drawer",
    "toc-drawer",
    "bd-sidebar",
    "bd-sidebar-primary",
    "bd-sidebar-secondary",
    "prev-next-area",
    "md-header",
    "md-sidebar",
    "md-footer",
    "md-nav",
    "md-search",
    "md-clipboard",
    "md-source",
    "md-tabs",
    "md-content__button",
    "navbar",
    "mobile-nav",
    "menu-wrapper",
}
_TOC_CLASSES = ["toctree-wrapper"]
# The main content, where the page marks it; the first of these that holds text is read.
_CONTENT: tuple[tuple[str | None, dict[str, str]], ...] = (
    (None, {"role": "main"}),
    ("main", {}),
    ("article", {}),
    ("div", {"class": "body"}),
    (None, {"class": "md-content"}),
    (None, {"class": "document"}),
)
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = {
    "address",
    "article",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "hr",
    "html",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
    *_HEADINGS,
}
_END = object()  # marks the end of a block element on the walk's stack
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w\w")
_PERMALINK = "¶"
#: An id that names an API entry: a dotted name ("dict.pop", "unittest.TestCase.setUp"), as
#: Sphinx's (and mkdocstrings') ``<dt>`` ids are; not an anchor such as "index-3",
#: "term-iterator" or "cmdoption-c".
_ENTRY_ID = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_LEAVE = object()  # marks the end of an API entry's <dd> on the walk's stack

Kind = Literal["heading", "code", "text", "signature"]


@dataclass(frozen=True)
class Block:
    kind: Kind
    text: str
    entry: str = ""  # the qualified name of the API entry it belongs to, if any


@dataclass(frozen=True)
class HtmlText:
    """A page's title and text: paragraphs separated by blank lines, the start offsets of
    the headings and code blocks among them, and of the paragraphs of an API entry with the
    entry's qualified name."""

    title: str
    text: str
    headings: frozenset[int]
    code: frozenset[int]
    entries: dict[int, str] = field(default_factory=dict)


def parse_html(markup: str) -> Any:
    """Parse a page (a BeautifulSoup tree); raises whatever the parser raises on markup
    it cannot read."""
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():  # bs4 warns about markup that looks like a URL etc.
        warnings.simplefilter("ignore")
        return BeautifulSoup(markup, _HTML_PARSER)


def read_html(soup: Any) -> HtmlText:
    """Read a parsed page into its title and paragraphs (the page is changed: its chrome is
    removed)."""
    title = _text_of(soup.find("title")) or _text_of(soup.find("h1"))
    _drop_chrome(soup)
    # A table of contents (Sphinx's toctree) lists other pages' titles: navigation, unless
    # it is all the page holds (contents.html), where it is read as one paragraph of lines
    # rather than thousands of one-line passages.
    tables = [(toc, soup.new_tag("span")) for toc in soup.find_all(class_=_TOC_CLASSES)]
    for toc, mark in tables:
        toc.replace_with(mark)
    blocks = _blocks(soup)
    if tables and all(block.kind == "heading" for block in blocks):
        for toc, mark in tables:
            mark.replace_with(_as_lines(soup, toc))
        blocks = _blocks(soup)
    texts: list[str] = []
    headings: set[int] = set()
    code: set[int] = set()
    entries: dict[int, str] = {}
    offset = 0
    for block in blocks:
        if block.kind == "heading":
            headings.add(offset)
        elif block.kind == "code":
            code.add(offset)
        if block.entry:
            entries[offset] = block.entry
        texts.append(block.text)
        offset += len(block.text) + 2  # the "\n\n" between paragraphs
    return HtmlText(title, "\n\n".join(texts), frozenset(headings), frozenset(code), entries)


def _as_lines(soup: Any, toc: Any) -> Any:
    """A paragraph of the entries of a table of contents, one a line."""
    paragraph = soup.new_tag("p")
    for link in toc.find_all("a"):
        paragraph.append(_text_of(link))
        paragraph.append(soup.new_tag("br"))
    return paragraph


def _blocks(soup: Any) -> list[Block]:
    for root in _content_roots(soup):
        blocks = _joined(list(_walk(root)))
        if blocks:
            return blocks
    return []


def _drop_chrome(soup: Any) -> None:
    """Remove the chrome's tags, walking down from the root (not into what is removed)."""
    from bs4 import Tag

    stack = [soup]
    while stack:
        for child in list(stack.pop().contents):
            if isinstance(child, Tag):
                if _is_chrome(child):
                    child.decompose()
                else:
                    stack.append(child)


def _is_chrome(tag: Any) -> bool:
    classes = tag.get("class") or ()
    if tag.name in _DROP_TAGS:
        # docutils (Sphinx) puts footnotes in <aside class="footnote">: content, not a sidebar
        return not (tag.name == "aside" and any(c.startswith("footnote") for c in classes))
    return (
        not _DROP_CLASSES.isdisjoint(classes)
        or tag.get("role") in _DROP_ROLES
        or tag.get("aria-label") in _DROP_LABELS
        or tag.get("id") in _DROP_IDS
    )


def _content_roots(soup: Any) -> Iterator[Any]:
    """The main content when the page marks it; the whole body when that holds no text."""
    for name, attrs in _CONTENT:
        found = soup.find(name, attrs=attrs) if name else soup.find(attrs=attrs)
        if found is not None:
            yield found
    for root in (soup.body, soup):
        if root is not None:
            yield root


def _text_of(tag: Any) -> str:
    return _collapse(tag.get_text(" ")) if tag is not None else ""


def _walk(root: Any) -> Iterator[Block]:
    """Yield the blocks under ``root`` in order. The tree is walked with an explicit stack
    (deeply nested pages would overflow recursion); entering or leaving a block element
    ends the paragraph being built, so each block becomes its own paragraph. A ``<dd>``'s
    blocks belong to the API entry its ``<dt>`` names (the innermost, for nested entries)."""
    from bs4 import NavigableString, Tag

    buffer: list[str] = []
    stack: list[object] = [root]
    entries: list[str] = [""]  # the entries being described, innermost last
    named = ""  # the entry of the <dt>s read since the last <dd>: the next <dd> describes it
    while stack:
        node = stack.pop()
        if node is _END or (isinstance(node, Tag) and node.name in _BLOCKS):
            yield from _paragraph("".join(buffer), "text", entries[-1])
            buffer.clear()
        if node is _LEAVE:
            entries.pop()
        elif isinstance(node, Tag):
            if node.name == "br":
                buffer.append("\n")
            elif node.name == "pre":  # preformatted: its line breaks are meaningful
                yield from _paragraph(node.get_text(), "code", entries[-1])
            elif node.name in _HEADINGS:
                yield from _paragraph(node.get_text(), "heading", entries[-1])
            elif node.name == "dt":  # one line: the name of what the <dd> describes
                # A <dt> without an id shares the entry of the one before it, or belongs
                # to the entry around it.
                named = _entry_name(node) or named or entries[-1]
                yield from _paragraph(node.get_text(), "signature", named)
            else:
                if node.name == "dd":
                    entries.append(named or entries[-1])
                    named = ""
                    stack.append(_LEAVE)
                if node.name in _BLOCKS:
                    stack.append(_END)
                stack.extend(reversed(node.contents))
        elif type(node) is NavigableString:  # not comments, doctypes, CDATA
            buffer.append(_SPACES.sub(" ", node))
    yield from _paragraph("".join(buffer), "text", entries[-1])


def _entry_name(dt: Any) -> str:
    """The qualified name a ``<dt>``'s id gives the API entry, or "" (not a dotted name)."""
    name = dt.get("id")
    return name if isinstance(name, str) and _ENTRY_ID.fullmatch(name) else ""


def _paragraph(text: str, kind: Kind, entry: str = "") -> Iterator[Block]:
    if kind in ("heading", "signature"):
        line = _collapse(text.replace(_PERMALINK, ""))
        if line:
            yield Block(kind, line, entry)
        return
    # A blank line inside would split the paragraph in two, so empty lines are dropped.
    keep = kind == "code"
    lines = [line.rstrip() if keep else _collapse(line) for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if lines:
        yield Block(kind, "\n".join(lines), entry)


def _joined(blocks: list[Block]) -> list[Block]:
    """Join each signature to the paragraph describing it ("name — description"), and
    short fragments to what follows them, or to what precedes them before a heading; a code
    block's lines stay whole (what leads into one goes before its first line). Fragments
    that carry no word are dropped. A joined paragraph is its signature's entry's, else its
    own."""
    out: list[Block] = []
    lead: list[str] = []  # signatures and short fragments waiting for their paragraph
    entry = ""  # the entry of what waits in ``lead``: its first signature's
    signed = False  # whether ``lead`` ends with a signature
    for block in blocks:
        short = _is_fragment(block.text)
        if block.kind == "heading":
            _flush(out, lead, entry)
            out.append(block)
            lead, signed = [], False
        elif block.kind == "signature":
            if not signed and not _is_fragment("\n".join(lead)):
                _flush(out, lead, entry)  # a run of fragments that stands on its own (a table)
                lead = []
            if not signed:
                entry = block.entry
            lead.append(block.text)  # several signatures may share one description
            signed = True
        elif block.kind == "text" and signed:
            out.append(Block("text", "\n".join(lead) + f" — {block.text}", entry))
            lead, signed = [], False
        elif block.kind == "code" and short and not lead and out and out[-1].kind != "heading":
            out[-1] = replace(out[-1], text=f"{out[-1].text}\n{block.text}")  # "x = f()"
        elif block.kind == "text" and short:
            if not lead:
                entry = block.entry
            lead.append(block.text)
        else:  # text, or code with what leads into it
            out.append(Block(block.kind, "\n".join([*lead, block.text]), block.entry))
            lead, signed = [], False
    _flush(out, lead, entry)
    return out


def _is_fragment(text: str) -> bool:
    """Too little to answer anything alone: a few characters, or one word (a bare name such
    as "PyComplex_ImagAsDouble()" in a list of them)."""
    return len(text) < MIN_PARAGRAPH_CHARS or not _SPACES.search(text)


def _flush(out: list[Block], lead: list[str], entry: str) -> None:
    """End a run of fragments that no paragraph followed: a paragraph of its own if it is
    long enough, else onto the paragraph before (not a heading)."""
    text = "\n".join(lead)
    if not _WORD.search(text):
        return  # index letters, punctuation: nothing to answer with
    if not _is_fragment(text) or not out or out[-1].kind == "heading":
        out.append(Block("text", text, entry))
    else:
        out[-1] = replace(out[-1], text=f"{out[-1].text}\n{text}")


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()

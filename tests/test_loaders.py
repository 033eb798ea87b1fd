"""assistant.ingest.loaders on real files of every supported format, written here into tmp_path."""

from __future__ import annotations

import codecs
import io
import os
import zipfile
from pathlib import Path

import docx
import pypdf
import pytest
from fpdf import FPDF

from assistant.errors import IngestError
from assistant.ingest.loaders import SUPPORTED_SUFFIXES, LoadedDocument, Page, load_document

LONG = (
    "The Danube flows through ten countries, more than any other river in the world. "
    "It rises in the Black Forest and ends in the Black Sea after a long journey east."
)
SHORT = "Its basin drains a fifth of the continent."


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def load_error(path: Path) -> str:
    with pytest.raises(IngestError) as info:
        load_document(path)
    message = str(info.value)
    assert str(path) in message  # every message names the file
    return message


# --- plain text -------------------------------------------------------------------------


def test_utf8_text_keeps_content_and_normalises_line_endings(tmp_path):
    path = write(tmp_path / "a.txt", b"Title\r\n\r\nFirst para\rsecond line.\n")
    assert load_document(path) == LoadedDocument(
        None, [Page("Title\n\nFirst para\nsecond line.\n", None)]
    )


def test_utf8_bom_is_removed(tmp_path):
    path = write(tmp_path / "a.md", codecs.BOM_UTF8 + "# Café\n\nÜber “quotes”.".encode())
    assert load_document(path).pages[0].text == "# Café\n\nÜber “quotes”."


def test_cp1252_text_decodes_accents_and_smart_quotes(tmp_path):
    text = "Le café “noir” – l’été…\r\n"
    path = write(tmp_path / "legacy.txt", text.encode("cp1252"))
    assert load_document(path).pages[0].text == "Le café “noir” – l’été…\n"


def test_byte_undefined_in_cp1252_falls_back_to_latin1(tmp_path):
    path = write(tmp_path / "latin.txt", b"caf\xe9 \x81 is still text")  # 0x81: not in cp1252
    assert load_document(path).pages[0].text == "café \x81 is still text"


def test_utf16_with_bom_is_text_not_binary(tmp_path):
    path = write(tmp_path / "notepad.txt", "Grüße\r\n".encode("utf-16"))
    assert load_document(path).pages[0].text == "Grüße\n"


def test_uppercase_suffix_is_accepted(tmp_path):
    assert load_document(write(tmp_path / "A.TXT", "hello")).pages == [Page("hello", None)]


# --- HTML -------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title> Rivers   of Europe </title>
<style>p { color: red }</style><script>var secret = "SCRIPT";</script></head>
<body>
<header>SITE HEADER</header>
<nav><ul><li>NAV LINK</li></ul></nav>
<main>
  <h1>The Danube</h1>
  <p>It flows through <b>ten</b>
     countries.<!-- A COMMENT --></p>
  <noscript>NOSCRIPT</noscript>
  <h2>Course</h2>
  <ul><li>Black Forest</li><li>Black Sea</li></ul>
  <blockquote>Blue water.</blockquote>
  <p>Line one<br>line two</p>
  <pre>code  line 1
    indented</pre>
  <table><tr><th>Country</th><td>Length</td></tr></table>
  <form>FORM TEXT</form><aside>ASIDE</aside>
  <svg><text>SVG TEXT</text></svg><template>TEMPLATE</template>
</main>
<p>OUTSIDE MAIN</p>
<footer>FOOTER</footer>
<script>console.log("SCRIPT2")</script>
</body></html>"""


def test_html_keeps_main_text_as_paragraphs(tmp_path):
    document = load_document(write(tmp_path / "page.html", PAGE))
    assert document.title == "Rivers of Europe"
    assert document.pages == [
        Page(
            # Fragments under 20 characters are joined to what follows them (a code block
            # too), or at the end to what precedes them: see assistant.ingest.html.
            "The Danube\n\nIt flows through ten countries.\n\nCourse\n\nBlack Forest\n"
            "Black Sea\nBlue water.\nLine one\nline two\ncode  line 1\n    indented\n"
            "Country\nLength",
            None,
        )
    ]
    for hidden in (
        "SCRIPT",
        "color",
        "HEADER",
        "NAV",
        "COMMENT",
        "NOSCRIPT",
        "FORM",
        "ASIDE",
        "SVG",
        "TEMPLATE",
        "OUTSIDE",
        "FOOTER",
    ):
        assert hidden not in document.pages[0].text


def test_html_article_and_h1_title_fallback(tmp_path):
    html = (
        "<html><body><div>MENU</div><article><h1>Main   heading</h1><div>Body "
        "<span>text</span></div></article></body></html>"
    )
    document = load_document(write(tmp_path / "a.htm", html))
    assert document == LoadedDocument("Main heading", [Page("Main heading\n\nBody text", None)])


def test_html_without_main_uses_body_and_no_title(tmp_path):
    html = "<p>The first paragraph.</p><div>The second paragraph.</div>"
    document = load_document(write(tmp_path / "b.html", html))
    assert document == LoadedDocument(
        None, [Page("The first paragraph.\n\nThe second paragraph.", None)]
    )


@pytest.mark.parametrize("charset", ["windows-1252", "iso-8859-1"])
def test_html_declared_legacy_charset(tmp_path, charset):
    html = (
        f'<html><head><meta charset="{charset}"><title>Café</title></head>'
        "<body><p>“Crème brûlée”</p></body></html>"
    )
    document = load_document(write(tmp_path / "c.html", html.encode("cp1252")))
    assert document == LoadedDocument("Café", [Page("“Crème brûlée”", None)])


def test_html_http_equiv_charset_and_utf8_bom(tmp_path):
    legacy = (
        '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1"><p>na\xefve</p>'
    ).encode("latin-1")
    assert load_document(write(tmp_path / "d.html", legacy)).pages[0].text == "naïve"
    bom = codecs.BOM_UTF8 + "<p>naïve “x”</p>".encode()
    assert load_document(write(tmp_path / "e.html", bom)).pages[0].text == "naïve “x”"


def test_html_xml_declaration_encoding_and_pre_blank_lines(tmp_path):
    xhtml = (
        '<?xml version="1.0" encoding="ISO-8859-15"?>\n<html><body>'
        "<p>It costs 5 \u20ac at the door.</p>"
        "<pre>total = 1\n\n\ntotal += 2   \n</pre></body></html>"
    )
    document = load_document(write(tmp_path / "x.htm", xhtml.encode("iso-8859-15")))
    assert document.pages == [Page("It costs 5 \u20ac at the door.\n\ntotal = 1\ntotal += 2", None)]


def test_html_empty_main_falls_back_to_body(tmp_path):
    html = "<body><main><nav>Menu</nav></main><p>Real text.</p></body>"
    assert load_document(write(tmp_path / "m.html", html)).pages == [Page("Real text.", None)]


def test_html_deeply_nested(tmp_path):
    html = "<div><span>" * 3000 + "deep down the tree" + "</span></div>" * 3000
    html += "<p>and a paragraph after it</p>"
    expected = [Page("deep down the tree\nand a paragraph after it", None)]  # a fragment joined
    assert load_document(write(tmp_path / "deep.html", html)).pages == expected


def test_html_with_only_scripts_has_no_text(tmp_path):
    path = write(tmp_path / "empty.html", "<html><script>x()</script><nav>Home</nav></html>")
    assert "contains no text" in load_error(path)


# --- PDF --------------------------------------------------------------------------------


def make_pdf(title: str | None = "Rivers of Europe") -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.cell(text="Introduction", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 6, LONG, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 6, SHORT + " Café owners sell coffee.", new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()  # a page without text, like a full-page picture
    pdf.rect(20, 20, 50, 50)
    pdf.add_page()
    pdf.multi_cell(0, 6, "The Rhine is shorter.")
    return bytes(pdf.output())


def test_pdf_pages_numbers_paragraphs_and_title(tmp_path):
    document = load_document(write(tmp_path / "rivers.pdf", make_pdf()))
    assert document.title == "Rivers of Europe"
    assert document.pages == [
        Page(f"Introduction\n\n{LONG}\n\n{SHORT} Café owners sell coffee.", 1),
        Page("The Rhine is shorter.", 3),  # page 2 has no text; numbers stay true
    ]


def test_pdf_without_metadata_title(tmp_path):
    assert load_document(write(tmp_path / "r.pdf", make_pdf(title=None))).title is None


def test_pdf_blank_lines_and_hyphenation():
    from assistant.ingest.loaders import _pdf_page_text

    assert _pdf_page_text("A first line\nand a second\n\nNew para-\ngraph here\n") == (
        "A first line and a second\n\nNew paragraph here"
    )


def test_pdf_with_only_drawings_says_scanned(tmp_path):
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 50, 50)
    message = load_error(write(tmp_path / "scan.pdf", bytes(pdf.output())))
    assert "scanned" in message and "OCR" in message


def encrypt(raw: bytes, user: str, owner: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(raw))
    writer.encrypt(user, owner_password=owner, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_with_password_is_refused_clearly(tmp_path):
    path = write(tmp_path / "locked.pdf", encrypt(make_pdf(), "secret", "owner"))
    assert "password" in load_error(path)


def test_pdf_with_only_owner_password_opens(tmp_path):
    path = write(tmp_path / "restricted.pdf", encrypt(make_pdf(), "", "owner"))
    assert load_document(path).pages[-1] == Page("The Rhine is shorter.", 3)


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4000),
        b"%PDF-1.4\n" + os.urandom(4000),
        make_pdf()[:700],
        make_pdf()[:-40],
    ],
    ids=["random", "pdf-header-then-noise", "truncated-half", "truncated-end"],
)
def test_corrupt_pdf(tmp_path, data):
    assert "damaged" in load_error(write(tmp_path / "bad.pdf", data))


# --- DOCX -------------------------------------------------------------------------------


def make_docx(core_title: str = "") -> bytes:
    document = docx.Document()
    document.core_properties.title = core_title
    document.add_heading("Rivers  of Europe", 0)
    document.add_heading("The Danube", 1)
    document.add_paragraph(LONG)
    paragraph = document.add_paragraph("Line one")
    paragraph.add_run().add_break()
    paragraph.add_run("line two")
    document.add_paragraph("")  # an empty paragraph adds no blank block
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Country"
    table.cell(0, 1).text = "Length"
    table.cell(1, 0).merge(table.cell(1, 1)).text = "Merged cell"
    document.add_paragraph(SHORT)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_paragraphs_headings_tables(tmp_path):
    document = load_document(write(tmp_path / "rivers.docx", make_docx()))
    assert document == LoadedDocument(
        "Rivers of Europe",
        [
            Page(
                f"Rivers of Europe\n\nThe Danube\n\n{LONG}\n\nLine one\nline two\n\n"
                f"Country\n\nLength\n\nMerged cell\n\n{SHORT}",
                None,
            )
        ],
    )


def test_docx_core_title_wins(tmp_path):
    path = write(tmp_path / "t.docx", make_docx(core_title="Core Title"))
    assert load_document(path).title == "Core Title"


def test_docx_without_heading_has_no_title(tmp_path):
    document = docx.Document()
    document.add_paragraph("Just text.")
    out = io.BytesIO()
    document.save(out)
    assert load_document(write(tmp_path / "p.docx", out.getvalue())) == LoadedDocument(
        None, [Page("Just text.", None)]
    )


def zip_without_document() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a word file")
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4000),
        make_docx()[:2000],
        zip_without_document(),
    ],
    ids=["random", "truncated", "zip-without-document"],
)
def test_corrupt_docx(tmp_path, data):
    assert "damaged" in load_error(write(tmp_path / "bad.docx", data))


# --- bad inputs -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["e.txt", "e.md", "e.html", "e.pdf", "e.docx"])
@pytest.mark.parametrize("data", [b"", b"  \r\n\t\n"], ids=["zero-bytes", "whitespace"])
def test_empty_file(tmp_path, name, data):
    assert "is empty" in load_error(write(tmp_path / name, data))


def test_bom_only_text_file_is_empty(tmp_path):
    assert "no text" in load_error(write(tmp_path / "bom.txt", codecs.BOM_UTF8 + b"\n"))


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04\x00\x00binary\x00data",
        bytes(range(1, 32)) * 20 + b"some words",  # no NUL, but mostly control characters
    ],
    ids=["nul-bytes", "control-characters"],
)
@pytest.mark.parametrize("name", ["blob.txt", "blob.md"])
def test_binary_text_file(tmp_path, name, data):
    assert "binary" in load_error(write(tmp_path / name, data))


@pytest.mark.parametrize("name", ["old.doc", "sheet.xlsx", "README"])
def test_unsupported_extension_lists_supported(tmp_path, name):
    message = load_error(write(tmp_path / name, "text"))
    assert "not supported" in message
    assert all(suffix in message for suffix in SUPPORTED_SUFFIXES)


def test_missing_path(tmp_path):
    assert "does not exist" in load_error(tmp_path / "nowhere.txt")


def test_folder_is_not_a_file(tmp_path):
    folder = tmp_path / "notes.txt"
    folder.mkdir()
    assert "folder" in load_error(folder)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files with mode 000")
def test_unreadable_file_by_permissions(tmp_path):
    path = write(tmp_path / "secret.txt", "hidden")
    path.chmod(0)
    try:
        assert "permission denied" in load_error(path)
    finally:
        path.chmod(0o600)


@pytest.mark.parametrize("name", ["secret.txt", "secret.pdf", "secret.docx", "secret.html"])
def test_unreadable_file_permission_error(tmp_path, monkeypatch, name):
    path = write(tmp_path / name, "hidden")

    def deny(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    monkeypatch.setattr(Path, "open", deny)
    assert "permission denied" in load_error(path)


def test_other_os_error_is_wrapped(tmp_path, monkeypatch):
    path = write(tmp_path / "io.txt", "x")

    def fail(self):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Path, "read_bytes", fail)
    assert "Input/output error" in load_error(path)

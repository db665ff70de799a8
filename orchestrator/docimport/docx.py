"""Word files (.docx; .doc/.wps through LibreOffice) to the canonical body, with the 公文 parts recognised.

Conversion is mammoth's (semantic HTML: headings, nested lists, tables with merged cells, footnotes); the 公文
recognition reads the same file with python-docx, which keeps what mammoth drops on purpose (alignment, font size).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field

import docx
import mammoth
from docx.enum.text import WD_ALIGN_PARAGRAPH
from PIL import Image

from orchestrator.docimport import clean, gongwen


class ImportRefused(ValueError):
    """A file that is not imported; the message is for the clerk. Nothing was stored."""


@dataclass
class BodyImage:
    filename: str
    content_type: str
    data: bytes
    sha256: str


@dataclass
class Converted:
    body_html: str
    parts: gongwen.Parts
    images: list[BodyImage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# Headings and titles as Word and WPS name them (English and Chinese UIs).
STYLE_MAP = """
p[style-name='Title'] => h1:fresh
p[style-name='标题'] => h1:fresh
p[style-name='Subtitle'] => h2:fresh
p[style-name='副标题'] => h2:fresh
p[style-name='heading 1'] => h1:fresh
p[style-name='heading 2'] => h2:fresh
p[style-name='heading 3'] => h3:fresh
p[style-name='heading 4'] => h4:fresh
p[style-name='标题 1'] => h1:fresh
p[style-name='标题 2'] => h2:fresh
p[style-name='标题 3'] => h3:fresh
p[style-name='标题 4'] => h4:fresh
u => u
"""

_IMAGE_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n", "png"),
    "image/jpeg": (b"\xff\xd8\xff", "jpg"),
    "image/gif": (b"GIF8", "gif"),
}
_MACRO_PARTS = re.compile(r"(^|/)(vbaProject\.bin|vbaData\.xml)$|(^|/)activeX/", re.I)
MAX_ZIP_MEMBERS = 5000
MAX_RATIO = 200  # a member that inflates more than this (and past 1 MB) is a bomb, not a document


def check_container(data: bytes, name: str, unpacked_limit: int) -> None:
    """Refuse macro-enabled files, zip bombs and files that are not Word documents at all — before any parsing."""
    if not data.startswith(b"PK\x03\x04"):
        raise ImportRefused(f"“{name}”不是有效的 Word（.docx）文件，可能已损坏或被改名")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ImportRefused(f"“{name}”不是有效的 Word（.docx）文件，可能已损坏或被改名") from exc
    names = {i.filename for i in infos}
    if "word/document.xml" not in names:
        raise ImportRefused(f"“{name}”不是 Word 文档（缺少正文部分），请另存为 .docx 后再上传")
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ImportRefused(f"“{name}”内部文件过多（{len(infos)} 个），不像正常的 Word 文档，已拒绝")
    total = 0
    for i in infos:
        total += i.file_size
        if i.file_size > 1024 * 1024 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise ImportRefused(f"“{name}”解压后异常膨胀（疑似压缩炸弹），已拒绝")
    if total > unpacked_limit:
        raise ImportRefused(f"“{name}”解压后超过 {unpacked_limit // (1024 * 1024)} MB（疑似压缩炸弹），已拒绝")
    content_types = zf.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
    if any(_MACRO_PARTS.search(n) for n in names) or b"macroEnabled" in content_types:
        raise ImportRefused(f"“{name}”含有宏或控件（可执行代码），出于安全不予导入。请在 Word 中另存为不含宏的 .docx 后再上传")


def _check_image(data: bytes, content_type: str, label: str) -> str:
    """The extension for a body image whose bytes are what the document says they are (else refused)."""
    magic, ext = _IMAGE_MAGIC[content_type]
    if not data.startswith(magic):
        raise ImportRefused(f"文档中的图片“{label}”内容与其类型（{content_type}）不符，可能被篡改，已拒绝导入")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a refusal of this image
        raise ImportRefused(f"文档中的图片“{label}”无法识别或已损坏，已拒绝导入") from exc
    return ext


EDGE = 15  # the 公文 parts styled by position live in the first and last paragraphs; the middle needs text only


def _paragraphs(document: docx.document.Document) -> list[gongwen.Para]:
    paragraphs = document.paragraphs
    styles: dict[str | None, tuple] = {}  # python-docx's style lookup is slow: once per style id

    def style_of(p: docx.text.paragraph.Paragraph) -> tuple:
        sid = p._p.style
        if sid not in styles:
            st = p.style
            styles[sid] = (st.paragraph_format.alignment, st.font.size.pt if st.font and st.font.size else 0.0,
                           bool(st.font and st.font.bold), st.name or "")
        return styles[sid]

    out = []
    n = len(paragraphs)
    for k, p in enumerate(paragraphs):
        if EDGE <= k < n - EDGE:
            out.append(gongwen.Para(p.text))
            continue
        s_align, s_size, s_bold, s_name = style_of(p)
        fmt_align = p.alignment if p.alignment is not None else s_align
        runs = p.runs
        sizes = [r.font.size.pt for r in runs if r.font.size] or ([s_size] if s_size else [])
        texts = [r for r in runs if r.text.strip()]
        bold = bool(texts) and all(r.bold or (r.bold is None and s_bold) for r in texts)
        out.append(gongwen.Para(
            p.text, centred=fmt_align == WD_ALIGN_PARAGRAPH.CENTER, right=fmt_align == WD_ALIGN_PARAGRAPH.RIGHT,
            size=max(sizes) if sizes else 0.0, bold=bold, style=s_name,
        ))
    return out


_BLOCK = re.compile(r"<(?P<list>ol|ul|table)\b.*?</(?P=list)>|<(?P<para>p|h[1-6])(?:\s[^>]*)?>.*?</(?P=para)>", re.S)


def _mark_parts(html: str, parts: gongwen.Parts) -> str:
    """Drop the 版头 (issuer, 文号, title: they are form fields) and mark 主送, 附件说明, 落款, 成文日期."""
    header = [gongwen._norm(t) for t in parts.header_texts]
    out: list[str] = []
    pos = 0
    sig_lines = {gongwen._norm(s) for s in parts.signature.split("\n") if s}
    marks = {gongwen._norm(parts.recipient): "gw-recipient", gongwen._norm(parts.signed_on_text): "gw-date"}
    marks.update({s: "gw-signature" for s in sig_lines})
    marks.update({gongwen._norm(n): "gw-attachments" for n in parts.attachments_note[1:]})
    in_header = True
    for m in _BLOCK.finditer(html):
        out.append(html[pos:m.start()])
        pos = m.end()
        block = m.group(0)
        text = gongwen._norm(re.sub(r"<[^>]+>", "", block))
        if in_header and header and text and text == header[0]:
            header.pop(0)
            continue
        if text:
            in_header = False
        cls = marks.get(text) if text else None
        if not cls and text and gongwen._ATTACH.match(text) and parts.attachments_note:
            cls = "gw-attachments"
        if cls and block.startswith("<p>"):
            block = f'<p class="{cls}">' + block[3:]
        out.append(block)
    out.append(html[pos:])
    return "".join(out)


def convert_docx(data: bytes, name: str = "文档.docx", *, unpacked_limit: int = 200 * 1024 * 1024) -> Converted:
    check_container(data, name, unpacked_limit)
    images: dict[str, BodyImage] = {}
    notes: list[str] = []

    def image(img: mammoth.documents.Image) -> dict[str, str]:
        ctype = (img.content_type or "").lower()
        with img.open() as f:
            raw = f.read()
        label = img.alt_text or f"第 {len(images) + 1} 张"
        if ctype not in _IMAGE_MAGIC:
            notes.append(f"文档中的图片（{ctype or '未知格式'}）网页无法显示，已略去，请另存为 PNG/JPG 后插入")
            return {}
        ext = _check_image(raw, ctype, label)
        sha = hashlib.sha256(raw).hexdigest()
        if sha not in images:
            images[sha] = BodyImage(f"正文图片{len(images) + 1}-{sha[:8]}.{ext}", ctype, raw, sha)
        attrs = {"src": images[sha].filename}
        if img.alt_text:
            attrs["alt"] = img.alt_text
        return attrs

    try:
        document = docx.Document(io.BytesIO(data))
        result = mammoth.convert_to_html(io.BytesIO(data), style_map=STYLE_MAP,
                                         convert_image=mammoth.images.img_element(image))
    except ImportRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - a file the libraries cannot read is the clerk's problem to fix
        raise ImportRefused(f"“{name}”无法解析为 Word 文档（{type(exc).__name__}），请在 Word/WPS 中另存为 .docx 后重试") from exc
    parts = gongwen.recognise(_paragraphs(document))
    html = re.sub(r"<img(?![^>]*\bsrc=)[^>]*>", "", result.value)
    html = clean.sanitise(_mark_parts(html, parts))
    return Converted(html, parts, list(images.values()), notes)


def _ole_has_macros(data: bytes) -> bool:
    # The OLE directory names a VBA project's storages in UTF-16 ("Macros" in .doc, "VBA" inside it).
    return "Macros".encode("utf-16-le") in data or "_VBA_PROJECT".encode("utf-16-le") in data


def legacy_to_docx(data: bytes, name: str, timeout: float = 120.0) -> bytes:
    """A .doc/.wps file converted by LibreOffice (headless) to .docx, or a clear refusal saying what to install."""
    if not data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise ImportRefused(f"“{name}”不是有效的 Word 97-2003/WPS 文件，可能已损坏或被改名")
    if _ole_has_macros(data):
        raise ImportRefused(f"“{name}”含有宏（可执行代码），出于安全不予导入。请另存为不含宏的 .docx 后再上传")
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise ImportRefused(f"服务器未安装 LibreOffice，无法读取 .doc/.wps 文件“{name}”。请管理员执行 "
                            "apt-get install libreoffice-writer 后重试，或先在 Word/WPS 中另存为 .docx 再上传")
    with tempfile.TemporaryDirectory(prefix="orch-docin-") as tmp:
        src = os.path.join(tmp, "in." + ("wps" if name.lower().endswith(".wps") else "doc"))
        with open(src, "wb") as f:
            f.write(data)
        try:
            subprocess.run(
                [soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--norestore",
                 "--convert-to", "docx:MS Word 2007 XML", "--outdir", tmp, src],
                check=True, timeout=timeout, capture_output=True,
            )
            with open(os.path.join(tmp, "in.docx"), "rb") as f:
                return f.read()
        except (subprocess.SubprocessError, OSError) as exc:
            raise ImportRefused(f"LibreOffice 未能转换“{name}”，请在 Word/WPS 中另存为 .docx 后再上传") from exc

"""Building blocks of the reviewers' per-channel previews (see :meth:`channels.base.Channel.preview`).

Each adapter renders its own output with the code it delivers with; this module only wraps that output into a
complete HTML document (a caption-free page: the review page names each frame) and provides the generic preview
used by adapters without a rendering of their own. Everything typed by people is escaped here or has been through
the channel's sanitiser; the preview route adds a CSP without scripts, and the review page frames it in a sandbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

from channels import gongwen_html
from channels.base import ChannelPreview, DocumentPayload

# The 公文 layout of the built-in pages (templates/website/static/site.css), reduced to what a body needs.
GONGWEN_CSS = """
body { margin: 0; background: #f4f5f7; color: #222; font: 15px/1.75 "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC",
  "WenQuanYi Micro Hei", sans-serif; }
.sheet { max-width: 46em; margin: 16px auto; background: #fff; border: 1px solid #dde1e6; padding: 20px 28px; }
.doc-title { color: #b0191e; text-align: center; font-size: 22px; line-height: 1.5; margin: 8px 0; }
.doc-number-line { text-align: center; color: #555; margin: 0 0 12px; }
.doc-body { font-size: 16px; line-height: 2; overflow-wrap: anywhere; }
.doc-body p { margin: 0 0 .3em; text-indent: 2em; }
.doc-body p.gw-recipient, .doc-body td p, .doc-body th p, .doc-body li p { text-indent: 0; }
.doc-body p.gw-signature, .doc-body p.gw-date, .doc-body .gw-right { text-align: right; text-indent: 0; padding-right: 2em; }
.doc-body p.gw-signature { margin-top: 2em; }
.doc-body p.gw-signature + p.gw-signature, .doc-body p.gw-signature + p.gw-date { margin-top: 0; }
.doc-body .gw-center { text-align: center; text-indent: 0; }
.doc-body ol, .doc-body ul { margin: 0 0 .3em; padding-left: 4em; }
.doc-body ol ol, .doc-body ul ul { padding-left: 2em; }
/* 公文 numbering (GB/T 9704) as every other channel writes it (channels/richbody.py): 一、 → （一） → 1. → （1）. */
@counter-style gw-paren-cn { system: extends simp-chinese-informal; prefix: "（"; suffix: "）"; }
@counter-style gw-paren { system: extends decimal; prefix: "（"; suffix: "）"; }
.doc-body ol { list-style-type: simp-chinese-informal; }
.doc-body ol ol { list-style-type: gw-paren-cn; }
.doc-body ol ol ol { list-style-type: decimal; }
.doc-body ol ol ol ol { list-style-type: gw-paren; }
.doc-body img { max-width: 100%; height: auto; display: block; margin: 8px auto; }
.doc-body .table-scroll { overflow-x: auto; margin: 10px 0; }
.doc-body table { border-collapse: collapse; margin: 0 auto; }
.doc-body td, .doc-body th { border: 1px solid #555; padding: 4px 8px; }
.info { width: 100%; border-collapse: collapse; margin: 0 0 14px; font-size: 14px; }
.info th, .info td { border: 1px solid #dde1e6; padding: 5px 8px; text-align: left; vertical-align: top; }
.info th { background: #f0f4fa; color: #1a4f9c; white-space: nowrap; width: 7em; }
.attachments h2 { font-size: 16px; color: #1a4f9c; border-bottom: 1px solid #e5e8ec; }
.muted { color: #777; font-size: 13px; }
.task { border-left: 4px solid #d4a017; background: #fffaf0; padding: 8px 12px; margin: 0 0 14px; }
"""


def page(title: str, body: str, *, css: str = "", lang: str = "zh-CN") -> str:
    """A complete HTML document around already-safe ``body`` markup (``title`` is escaped here)."""
    style = f"<style>{css}</style>" if css else ""
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{escape(title)}</title>\n'
            f"{style}\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def attachment_list(document: DocumentPayload, urls: Mapping[str, str], *, skip_images: bool = True) -> str:
    """The attachment list as the pages show it: name (a link when the reviewer can open it), kind and size."""
    shown = gongwen_html.referenced_images(document.body_html) if skip_images else set()
    items = []
    for a in document.attachments:
        if a.content_type.startswith("image/") and a.filename in shown:
            continue  # shown in the body, not listed again (as the site does)
        name = escape(a.filename)
        url = urls.get(a.filename)
        link = f'<a href="{escape(url)}" download="{name}">{name}</a>' if url else name
        kind = gongwen_html.file_kind("." + a.filename.rsplit(".", 1)[-1] if "." in a.filename else "", a.content_type)
        items.append(f'<li class="attachment">{link} <span class="muted">{escape(kind)} · '
                     f"{escape(gongwen_html.size_text(a.size))}</span></li>")
    if not items:
        return ""
    return '<section class="attachments"><h2>附件</h2><ol>' + "".join(items) + "</ol></section>"


def gongwen_sheet(document: DocumentPayload, urls: Mapping[str, str], *, title: str | None = None) -> str:
    """Title centred, 文号 under it, the body in 公文 layout (images from ``urls``), then the attachments."""
    number = f'<p class="doc-number-line">{escape(document.doc_number)}</p>' if document.doc_number else ""
    body = gongwen_html.render(document.body_html, urls)
    return (f'<h1 class="doc-title">{escape(title if title is not None else document.title)}</h1>{number}'
            f'<div class="doc-body">{body}</div>{attachment_list(document, urls)}')


def generic(document: DocumentPayload, urls: Mapping[str, str], *, caption: str,
            notes: Iterable[str] = ()) -> ChannelPreview:
    sheet = gongwen_sheet(document, urls)
    html = page(document.title, f'<article class="sheet">{sheet}</article>', css=GONGWEN_CSS)
    return ChannelPreview(caption=caption, html=html, content=sheet, notes=tuple(notes))


def info_rows(rows: Iterable[tuple[str, str]]) -> str:
    return '<table class="info">' + "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows) + "</table>"

"""Content for WeChat: article limits, images made acceptable (JPG/PNG, size), ``<img>`` rewriting, rendering."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import dataclass
from functools import lru_cache

import jinja2
from PIL import Image, UnidentifiedImageError

from channels import richbody
from channels.base import (
    PermanentError,
)
from channels.gongwen_html import mark_typed_signature
from channels.templating import environment
from orchestrator.channel_api import sanitise_html
from orchestrator.settings import get_settings

# Article limits (current documentation). Checked before anything is sent.
TITLE_MAX = 32
AUTHOR_MAX = 16
DIGEST_MAX = 128
CONTENT_MAX_CHARS = 20_000  # exclusive
CONTENT_MAX_BYTES = 1024 * 1024  # exclusive
SOURCE_URL_MAX_BYTES = 1024
BODY_IMAGE_MAX_BYTES = 1024 * 1024  # media/uploadimg: < 1 MB
COVER_MAX_BYTES = 10 * 1024 * 1024  # permanent image material
# A rewritten src is a mmbiz.qpic.cn URL of about this length; used to estimate the final size before uploading.
REWRITTEN_SRC_CHARS = 100

_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC_ATTR = re.compile(r"""(\bsrc\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageData:
    data: bytes
    ext: str  # "jpg" or "png"

    @property
    def mime(self) -> str:
        return "image/png" if self.ext == "png" else "image/jpeg"

    def ascii_name(self, stem: str) -> str:
        # WeChat loses files whose multipart name is not ASCII (errcode 41005), so the name never comes from the user.
        return f"{stem}-{hashlib.sha1(self.data).hexdigest()[:10]}.{self.ext}"

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode()}"


def normalise_image(data: bytes, label: str, limit: int) -> ImageData:
    """JPG/PNG under ``limit`` bytes: kept as is when it already is; otherwise converted and shrunk with Pillow.

    Every image is decoded first, so a truncated or corrupt file fails here with its name instead of reaching
    WeChat (which would accept the bytes and show a broken image).
    """
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise PermanentError(f"图片“{label}”无法识别或已损坏，无法转换为微信支持的 JPG/PNG", detail=repr(exc)) from exc
    if data.startswith(_JPEG) and len(data) < limit:
        return ImageData(data, "jpg")
    if data.startswith(_PNG) and len(data) < limit:
        return ImageData(data, "png")
    has_alpha = img.mode in ("RGBA", "LA", "P") and "transparency" in img.info or img.mode in ("RGBA", "LA")
    if has_alpha:
        out = io.BytesIO()
        img.convert("RGBA").save(out, "PNG", optimize=True)
        if out.tell() < limit:
            return ImageData(out.getvalue(), "png")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").split()[-1])
        img = background
    img = img.convert("RGB")
    for _ in range(10):
        for quality in (88, 75, 60):
            out = io.BytesIO()
            img.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() < limit:
                return ImageData(out.getvalue(), "jpg")
        img = img.resize((max(1, int(img.width * 0.75)), max(1, int(img.height * 0.75))))
    raise PermanentError(f"图片“{label}”过大，压缩后仍超过微信上限（{limit // 1024} KB）")


def plain_cover() -> ImageData:
    """A plain banner (900×383, WeChat's cover ratio) used when neither the document nor the config has a cover."""
    out = io.BytesIO()
    Image.new("RGB", (900, 383), (178, 34, 34)).save(out, "PNG")
    return ImageData(out.getvalue(), "png")


def image_srcs(html: str) -> list[str]:
    found: list[str] = []
    for tag in _IMG_TAG.finditer(html):
        m = _SRC_ATTR.search(tag.group(0))
        if m:
            src = next(g for g in m.groups()[1:] if g is not None)
            if src not in found:
                found.append(src)
    return found


def rewrite_images(html: str, mapping: dict[str, str]) -> str:
    """Replace each ``<img src>`` by its WeChat URL and give it a responsive inline style; unknown sources are dropped."""

    def one(tag: re.Match[str]) -> str:
        text = tag.group(0)
        m = _SRC_ATTR.search(text)
        if not m:
            return ""
        src = next(g for g in m.groups()[1:] if g is not None)
        new = mapping.get(src)
        if not new:
            return ""
        text = text[: m.start()] + f'{m.group(1)}"{new}"' + text[m.end():]
        style = ' style="max-width:100%;height:auto;display:block;margin:10px auto;"'
        return text[:-2] + style + " />" if text.endswith("/>") else text[:-1] + style + ">"

    return _IMG_TAG.sub(one, html)


# ------------------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _jinja(templates_dir: str) -> jinja2.Environment:
    return environment(templates_dir, autoescape=jinja2.select_autoescape(["html"]), trim=False)


def article_template() -> jinja2.Template:
    return _jinja(str(get_settings().templates_dir)).get_template("wechat/article.html")


def sanitise(html: str) -> str:
    return sanitise_html(html)


# The body's look in the article: every style inline, no classes (the 公众号 editor keeps only inline styles),
# sizes for a phone; tables scroll sideways inside their own <section> with borders and merged cells kept.
ARTICLE_STYLES = richbody.InlineStyles(
    p="margin:0 0 14px 0;text-indent:2em;text-align:justify;",
    table="border-collapse:collapse;width:100%;font-size:14px;line-height:1.6;",
    table_wrap="margin:14px 0;overflow-x:auto;-webkit-overflow-scrolling:touch;",
)


def article_body(body_html: str) -> str:
    """The canonical body (images already on WeChat's hosts) as the article editor keeps it: inline styles only,
    公文 layout, explicit list numbers, no links outside WeChat (their addresses stay as text), no classes."""
    root = richbody.parse(body_html)
    mark_typed_signature(root)  # a typed body's 落款 and date are right-aligned as on the site page
    return richbody.inline_styled(richbody.serialise(root), ARTICLE_STYLES, keep_links=False)

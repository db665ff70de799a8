"""Turning a notice into a slide: the view model, the Jinja2 templates, QR codes, and the PNG renderers.

The live screen page and the exported PNGs come from the same templates (``templates/screens/_slide.html``), so a
notice looks the same on a browser-driven screen and on an LED controller fed from a USB stick. PNGs are rendered by
Debian's Chromium through Playwright; where no browser is installed, Pillow draws the same information with a CJK
font (wrapping per character, as Chinese text has no spaces to break at).

The CJK font comes with the product (``noto-cjk-sans-otc``, Noto Sans CJK under the SIL OFL, a runtime dependency), so
a machine without system CJK fonts still renders readable slides: Pillow opens it directly, and Chromium finds it
through a fontconfig file that adds its directory to the system's configuration. When no CJK font can be found at
all, the renderer is :class:`UnavailableRenderer`: the live pages keep working (the screen's own browser draws the
text) and what needs a PNG fails with :class:`SlidesUnavailable`, saying why.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import dataclasses
import datetime as dt
import hashlib
import html
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

import jinja2
import qrcode
import qrcode.image.svg
from markupsafe import Markup
from PIL import Image, ImageDraw, ImageFont

from channels.base import PermanentError
from channels.screens.config import ScreenSpec
from channels.screens.pages import (
    MEDIA_EXTENSIONS,
    MEDIA_REF,
    Geometry,
    Page,
    is_html,
    line_count,
    paginate,
    plain_body,
)
from channels.templating import environment
from orchestrator.channel_api import blob_path, cached_profile
from orchestrator.settings import get_settings

CHROMIUM_PATH = "/usr/bin/chromium"
# No network, no updates, no GPU: the renderer runs on servers without a display and without internet access.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# System CJK fonts (Debian fonts-noto-cjk / fonts-wqy-*), used only if the packaged font is missing.
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
# The face of a collection to draw Simplified Chinese with (a Noto CJK collection starts with the Japanese face).
SC_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
NO_FONT_MESSAGE = (
    "本机找不到中文字体，无法生成电子屏导出幻灯片（PNG）。本系统应随安装包带有思源黑体（noto-cjk-sans-otc），"
    "请重新安装本系统，或安装 fonts-noto-cjk 字体包后重试；电子屏实时页面不受影响"
)
EXCERPT_CHARS = 600
# Bump when the Pillow drawing changes, so exported slides are re-rendered.
PILLOW_LAYOUT_VERSION = "3"
# Characters that must not start a line (避头): they hang at the end of the previous one instead.
NO_LINE_START = set("，。、；：！？）》」』】〕〉”’…—·,.;:!?)]}%")


# --- view model ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlideNotice:
    """What a slide shows about one document (all text already plain; ``qr_svg`` is trusted markup we generated)."""

    document_id: int
    version: int
    title: str
    doc_number: str
    publisher: str
    category: str
    date_text: str
    period_text: str
    index_no: str
    excerpt: str
    site_url: str

    @property
    def qr_svg(self) -> Markup | None:
        return Markup(qr_svg(self.site_url)) if self.site_url else None

    def body_html(self) -> str:
        """What the slides show of the document: the stored body (HTML), or a plain excerpt as paragraphs."""
        return self.excerpt if is_html(self.excerpt) else plain_body(self.excerpt)

    def fingerprint(self) -> str:
        """Changes exactly when the rendered slide would change (inputs only; the renderer adds its own part)."""
        parts = [
            str(self.document_id), str(self.version), self.title, self.doc_number, self.publisher, self.category,
            self.date_text, self.period_text, self.index_no, self.excerpt, self.site_url,
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def cn_date(d: dt.date | dt.datetime, tz: ZoneInfo | None = None) -> str:
    if isinstance(d, dt.datetime):
        d = d.astimezone(tz).date() if tz and d.tzinfo else d.date()
    return f"{d.year}年{d.month}月{d.day}日"


def period_text(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> str:
    # The end is exclusive; people read "至 X日" as inclusive, so show the last day the notice is up.
    last = end.astimezone(tz) - dt.timedelta(microseconds=1)
    return f"{cn_date(start, tz)} 至 {cn_date(last, tz)}"


def geometry(screen: ScreenSpec, notice: SlideNotice) -> Geometry:
    w, h = screen.size
    return Geometry(w, h, screen.orientation == "portrait", bool(notice.site_url))


def slide_pages(screen: ScreenSpec, notice: SlideNotice, media_url: Callable[[str], str] | None = None) -> list[Page]:
    """The notice's slides on this screen: page 1 under the title and meta lines, the rest under a running title."""
    g = geometry(screen, notice)
    u = g.u
    title_lines = min(line_count(notice.title, g.text_width, 6 * u), 4 if g.portrait else 3)
    meta = "　　".join(x for x in (f"发布日期：{notice.date_text}", notice.doc_number and f"文号：{notice.doc_number}",
                                  notice.publisher and f"发布机构：{notice.publisher}") if x)
    meta_lines = line_count(meta, g.text_width, 3 * u)
    return paginate(notice.body_html(), g, title_lines=title_lines, meta_lines=meta_lines,
                    media_url=media_url or media_data_uri)


def media_data_uri(ref: str) -> str:
    """A body image of the attachment store as a data: URI (the exported PNGs are rendered without a server)."""
    m = MEDIA_REF.match(ref)
    if not m:
        return ""
    try:
        data = blob_path(get_settings(), m.group(1)).read_bytes()
    except OSError:
        return ""
    return f"data:{MEDIA_EXTENSIONS[m.group(2)]};base64,{base64.b64encode(data).decode()}"


def seconds_for(screen: ScreenSpec, page: Page) -> int:
    """How long a slide stays up: the screen's slide time, or longer when its text needs it."""
    return page.seconds(screen.slide_seconds)


class _TextExtractor(HTMLParser):
    _BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        # Open lists, innermost last: the next number of an <ol>, None for a <ul> (bullets).
        self._lists: list[int | None] = []
        self._after_marker = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag == "ol":
            start = dict(attrs).get("start") or "1"
            self._lists.append(int(start) if start.strip().lstrip("-").isdigit() else 1)
        elif tag == "ul":
            self._lists.append(None)
        elif tag == "li":
            # Keep the list's numbers and bullets: "1. 执法监督科", not "执法监督科".
            self.parts.append("\n")
            if self._lists and self._lists[-1] is not None:
                self.parts.append(f"{self._lists[-1]}. ")
                self._lists[-1] += 1
            else:
                self.parts.append("• ")
            self._after_marker = True
        elif tag in self._BLOCKS and not self._after_marker:  # <li><p>text</p></li>: text stays on the marker's line
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip = max(0, self._skip - 1)
        elif tag in {"ol", "ul"}:
            if self._lists:
                self._lists.pop()
            self.parts.append("\n")
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)
            if data.strip():
                self._after_marker = False


def html_to_text(body_html: str, limit: int = EXCERPT_CHARS) -> str:
    """Plain text of a (sanitised) HTML body, paragraphs kept, whitespace tidied, cut at ``limit`` characters."""
    parser = _TextExtractor()
    parser.feed(body_html or "")
    text = html.unescape("".join(parser.parts))
    lines = [re.sub(r"[ \t\u3000\xa0]+", " ", ln).strip() for ln in text.splitlines()]
    text = "\n".join(ln for ln in lines if ln)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@lru_cache(maxsize=512)
def qr_svg(url: str) -> str:
    """An inline SVG QR code for ``url`` (sized by CSS; no width/height in mm)."""
    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = img.to_string(encoding="unicode")
    svg = re.sub(r'\s(width|height)="[^"]*"', "", svg, count=2)
    return re.sub(r"^<\?xml[^>]*>\s*", "", svg)


def qr_image(url: str, size: int) -> Image.Image:
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(url)
    qr.make(fit=True)
    img = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    return img.resize((size, size), Image.Resampling.NEAREST)


# --- templates -------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def template_env(templates_dir: str) -> jinja2.Environment:
    return environment(templates_dir, autoescape=jinja2.select_autoescape(["html"]))


def default_templates_dir() -> Path:
    return get_settings().templates_dir


_SLIDE_TEMPLATES = ("screens/_slide.html", "screens/_slide_css.html", "screens/slide_page.html")


def templates_fingerprint(templates_dir: Path) -> str:
    """Changes when a slide template changes, so a redesign re-renders every exported slide."""
    h = hashlib.sha256()
    for name in _SLIDE_TEMPLATES:
        h.update((templates_dir / name).read_bytes())
    return h.hexdigest()[:16]


def screen_context(screen: ScreenSpec) -> dict[str, object]:
    w, h = screen.size
    return {
        "screen": screen,
        "width": w,
        "height": h,
        "orientation": screen.orientation,
        "heading": screen.heading,
        "screen_unit": min(w, h) / 100,
        "agency": _agency(),
    }


def _agency() -> dict[str, str]:
    """The agency profile (name, phone) for the slide footer; empty without a database."""
    return cached_profile().as_dict()


def _page_or_first(screen: ScreenSpec, notice: SlideNotice, page: Page | None) -> Page:
    return page if page is not None else slide_pages(screen, notice)[0]


def slide_fragment(env: jinja2.Environment, screen: ScreenSpec, notice: SlideNotice, page: Page | None = None) -> str:
    """One slide's HTML fragment (page 1 when none is given), as the live page inserts it."""
    pg = _page_or_first(screen, notice, page)
    return env.get_template("screens/_slide.html").render(n=notice, pg=pg, seconds=seconds_for(screen, pg),
                                                          **screen_context(screen))


def slide_page(env: jinja2.Environment, screen: ScreenSpec, notice: SlideNotice, page: Page | None = None) -> str:
    """A complete HTML document holding one slide at the screen's size, for the PNG export."""
    pg = _page_or_first(screen, notice, page)
    return env.get_template("screens/slide_page.html").render(n=notice, pg=pg, seconds=seconds_for(screen, pg),
                                                              **screen_context(screen))


# --- PNG renderers ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderJob:
    screen: ScreenSpec
    notice: SlideNotice
    page: Page | None = None  # None: the first slide


class SlideRenderer(Protocol):
    name: str

    def fingerprint(self) -> str: ...

    def session(self) -> AbstractContextManager[None]: ...

    def render(self, jobs: Sequence[RenderJob]) -> list[bytes]: ...


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _outside_event_loop(fn, *args):
    """Playwright's sync API refuses to run in a thread with a running asyncio loop (e.g. inside an async endpoint)."""
    if not _loop_running():
        return fn(*args)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


class ChromiumRenderer:
    """Renders the slide templates in headless Debian Chromium (never a downloaded browser).

    ``with renderer.session():`` keeps one browser open across several ``render`` calls (one delivery rebuilding
    several screens): launching costs about a second, rendering a slide a fraction of that.
    """

    name = "chromium"

    def __init__(self, env: jinja2.Environment, templates_dir: Path, executable: str = CHROMIUM_PATH,
                 font: Path | None = None):
        self.env = env
        self.templates_dir = templates_dir
        self.executable = executable
        self.font = font if font is not None else packaged_cjk_font()
        self._browser = None

    def fingerprint(self) -> str:
        return f"chromium:{templates_fingerprint(self.templates_dir)}:{self.font.name if self.font else 'system'}"

    def _launch(self, pw):
        env = dict(os.environ)
        conf = fontconfig_file(self.font) if self.font else None
        if conf is not None:
            env["FONTCONFIG_FILE"] = str(conf)  # the system's fonts plus the packaged CJK font
        return pw.chromium.launch(executable_path=self.executable, args=CHROMIUM_FLAGS, headless=True, env=env)

    @contextmanager
    def session(self) -> Iterator[None]:
        if self._browser is not None or _loop_running():
            yield
            return
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            self._browser = self._launch(pw)
            try:
                yield
            finally:
                browser, self._browser = self._browser, None
                browser.close()

    def render(self, jobs: Sequence[RenderJob]) -> list[bytes]:
        if not jobs:
            return []
        if self._browser is not None and not _loop_running():
            return self._render_with(self._browser, list(jobs))
        return _outside_event_loop(self._render, list(jobs))

    def _render(self, jobs: list[RenderJob]) -> list[bytes]:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = self._launch(pw)
            try:
                return self._render_with(browser, jobs)
            finally:
                browser.close()

    def _render_with(self, browser, jobs: list[RenderJob]) -> list[bytes]:
        out: list[bytes] = []
        for job in jobs:
            w, h = job.screen.size
            page = browser.new_page(viewport={"width": w, "height": h}, device_scale_factor=1)
            try:
                page.set_content(slide_page(self.env, job.screen, job.notice, job.page), wait_until="load")
                page.evaluate("() => document.fonts.ready.then(() => true)")
                out.append(page.screenshot(type="png", full_page=False))
            finally:
                page.close()
        return out


def packaged_cjk_font() -> Path | None:
    """Noto Sans CJK from the ``noto-cjk-sans-otc`` package (a runtime dependency), if installed."""
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    return path if path.is_file() else None


def find_cjk_font() -> str | None:
    """The font Pillow draws with: the packaged one, else a system CJK font."""
    packaged = packaged_cjk_font()
    if packaged is not None:
        return str(packaged)
    return next((p for p in CJK_FONT_PATHS if Path(p).exists()), None)


def system_has_cjk_font() -> bool:
    """Whether fontconfig (what Chromium uses) knows any Chinese font on this machine."""
    if shutil.which("fc-list") is None:
        return any(Path(p).exists() for p in CJK_FONT_PATHS)
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.strip())


@lru_cache(maxsize=8)
def _sc_face_index(font_path: str) -> int:
    """Index of the Simplified Chinese face in a font collection (0 for a single font)."""
    for i in range(16):
        try:
            family = ImageFont.truetype(font_path, size=12, index=i).getname()[0]
        except OSError:
            break
        if family in SC_FAMILIES:
            return i
    return 0


def fontconfig_file(font: Path | None = None, base: str | None = None) -> Path | None:
    """A fontconfig file for the browser: the current configuration (``$FONTCONFIG_FILE`` or the system's) plus the
    packaged font's directory. None when there is no packaged font (the browser then uses the system's fonts)."""
    font = font or packaged_cjk_font()
    if font is None:
        return None

    base = base or os.environ.get("FONTCONFIG_FILE") or "/etc/fonts/fonts.conf"
    base_path = Path(base) if Path(base).is_absolute() else Path(base).resolve()
    directory = get_settings().var_dir / "cache" / "fontconfig"
    directory.mkdir(parents=True, exist_ok=True)
    text = (
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n<fontconfig>\n'
        f'  <include ignore_missing="yes">{xml_escape(str(base_path))}</include>\n'
        f"  <dir>{xml_escape(str(font.parent))}</dir>\n"
        f"  <cachedir>{xml_escape(str(directory / 'cache'))}</cachedir>\n"
        "</fontconfig>\n"
    )
    name = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = directory / f"fonts-{name}.conf"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


class SlidesUnavailable(PermanentError):
    """Slides cannot be rendered on this machine (no CJK font at all); the live pages are not affected."""


class UnavailableRenderer:
    """Stands in when no renderer can draw Chinese: everything but the PNGs keeps working."""

    name = "unavailable"

    def __init__(self, reason: str):
        self.reason = reason

    def session(self) -> AbstractContextManager[None]:
        return nullcontext()

    def fingerprint(self) -> str:
        return "unavailable"

    def render(self, jobs: Sequence[RenderJob]) -> list[bytes]:
        if not jobs:
            return []
        raise SlidesUnavailable(self.reason)


class PillowRenderer:
    """Draws a slide with Pillow and a CJK font, for hosts without a browser. Same content, simpler layout."""

    name = "pillow"

    def __init__(self, font_path: str | None = None):
        path = font_path or find_cjk_font()
        if not path:
            raise FileNotFoundError(NO_FONT_MESSAGE)
        self.font_path = path

    def session(self) -> AbstractContextManager[None]:
        return nullcontext()

    def fingerprint(self) -> str:
        return f"pillow:{PILLOW_LAYOUT_VERSION}:{Path(self.font_path).name}:{_sc_face_index(self.font_path)}"

    def render(self, jobs: Sequence[RenderJob]) -> list[bytes]:
        return [self._render_one(j.screen, j.notice, j.page) for j in jobs]

    @lru_cache(maxsize=64)  # noqa: B019  (renderer objects are few and long-lived)
    def _font(self, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(self.font_path, size=size, index=_sc_face_index(self.font_path))

    @staticmethod
    def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str]:
        """Break per character (Chinese has no spaces); the last kept line ends with … when text was cut."""
        lines: list[str] = []
        for para in text.split("\n"):
            line = ""
            for ch in para:
                if draw.textlength(line + ch, font=font) > width and line and ch not in NO_LINE_START:
                    lines.append(line)
                    line = ch
                else:
                    line += ch
            lines.append(line)
        if len(lines) > max_lines:
            last = lines[max_lines - 1]
            while last and draw.textlength(last + "…", font=font) > width:
                last = last[:-1]
            lines = [*lines[: max_lines - 1], last + "…"]
        return lines

    def _render_one(self, screen: ScreenSpec, n: SlideNotice, page: Page | None = None) -> bytes:
        if page is not None or is_html(n.excerpt):  # the slide's text (no tables or images in this simpler drawing)
            pg = _page_or_first(screen, n, page)
            text = html_to_text(str(pg.body), limit=100_000)
            if pg.count > 1:
                text += f"\n（第{pg.index}/{pg.count}页）"
            n = dataclasses.replace(n, excerpt=text)
        w, h = screen.size
        u = min(w, h) / 100
        portrait = screen.orientation == "portrait"
        img = Image.new("RGB", (w, h), "#fbf8f1")
        d = ImageDraw.Draw(img)
        pad = int(4 * u)

        head_h = int(7.5 * u)
        d.rectangle([0, 0, w, head_h], fill="#b3191f")
        d.rectangle([0, head_h, w, head_h + int(0.6 * u)], fill="#e0a526")
        hf = self._font(int(3.6 * u))
        d.text((pad, head_h / 2), screen.heading, font=hf, fill="white", anchor="lm")
        if n.category:
            cf = self._font(int(2.4 * u))
            d.text((w - pad, head_h / 2), n.category, font=cf, fill="white", anchor="rm")

        foot_h = int(5.5 * u)
        d.rectangle([0, h - foot_h, w, h], fill="#efe6d3")
        ff = self._font(int(2.3 * u))
        foot = f"公示期：{n.period_text}" + (f"　　索引号：{n.index_no}" if n.index_no else "")
        d.text((pad, h - foot_h / 2), foot, font=ff, fill="#444444", anchor="lm")

        qr_side = int(24 * u) if n.site_url else 0
        top = head_h + int(4 * u)
        text_w = w - 2 * pad - ((qr_side + int(6 * u)) if (n.site_url and not portrait) else 0)
        bottom_limit = h - foot_h - int(2 * u) - ((qr_side + int(4 * u)) if (n.site_url and portrait) else 0)

        tf = self._font(int(6 * u))
        y = top
        for line in self._wrap(d, n.title, tf, text_w, 4 if portrait else 3):
            d.text((pad, y), line, font=tf, fill="#7a0f13")
            y += int(6 * u * 1.3)
        y += int(2 * u)
        mf = self._font(int(3 * u))
        meta = [f"发布日期：{n.date_text}"]
        if n.doc_number:
            meta.append(f"文号：{n.doc_number}")
        if n.publisher:
            meta.append(f"发布机构：{n.publisher}")
        for line in self._wrap(d, "　　".join(meta), mf, text_w, 3):
            d.text((pad, y), line, font=mf, fill="#333333")
            y += int(3 * u * 1.5)
        y += int(1.5 * u)
        d.line([pad, y, pad + text_w, y], fill="#d8cdb8", width=max(1, int(0.25 * u)))
        y += int(2 * u)
        if n.excerpt:
            ef = self._font(int(3.1 * u))
            step = int(3.1 * u * 1.65)
            max_lines = max(0, (bottom_limit - y) // step)
            if max_lines:
                for line in self._wrap(d, "　　" + n.excerpt.replace("\n", "\n　　"), ef, text_w, max_lines):
                    d.text((pad, y), line, font=ef, fill="#222222")
                    y += step

        if n.site_url:
            qr = qr_image(n.site_url, qr_side)
            if portrait:
                qx, qy = pad, h - foot_h - int(2 * u) - qr_side
            else:
                qx, qy = w - pad - qr_side, head_h + (h - head_h - foot_h - qr_side) // 2 - int(2 * u)
            img.paste(qr, (qx, qy))
            cap = self._font(int(2.6 * u))
            if portrait:
                d.text((qx + qr_side + int(3 * u), qy + qr_side / 2), "扫码查看全文", font=cap, fill="#333333", anchor="lm")
            else:
                d.text((qx + qr_side / 2, qy + qr_side + int(1.5 * u)), "扫码查看全文", font=cap, fill="#333333", anchor="mt")

        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=False)
        return buf.getvalue()


def chromium_available(executable: str = CHROMIUM_PATH) -> bool:
    if not (Path(executable).exists() or shutil.which(executable)):
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def make_renderer(kind: str, *, templates_dir: Path, executable: str = CHROMIUM_PATH) -> SlideRenderer:
    """``chromium``, ``pillow`` or ``auto`` (Chromium when installed, else Pillow). Without any CJK font, an
    :class:`UnavailableRenderer` (slides are refused with the reason; nothing else is affected)."""
    if kind == "chromium" or (kind == "auto" and chromium_available(executable)):
        font = packaged_cjk_font()
        if font is None and not system_has_cjk_font():
            return UnavailableRenderer(NO_FONT_MESSAGE)
        return ChromiumRenderer(template_env(str(templates_dir)), templates_dir, executable, font)
    path = find_cjk_font()
    return PillowRenderer(path) if path else UnavailableRenderer(NO_FONT_MESSAGE)

"""Slides on a machine without any system CJK font: the packaged Noto Sans CJK draws them, in Chromium and Pillow.

The machine state is made with fontconfig: ``FONTCONFIG_FILE`` points at a configuration that lists no system font
directory, so ``fc-list :lang=zh`` finds nothing, as on a fresh server. "Real glyphs, not tofu" is tested by rendering
two slides whose titles differ only in their Chinese characters: drawn with a font that has those characters the two
PNGs differ; drawn as tofu (every missing character the same box) they are identical — which the control, rendered
with only a Latin font, shows. Without any CJK font at all, the delivery fails with its own reason (never
``not_configured``) while the live page still shows the notice.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFont

from channels.base import NotConfigured, PermanentError
from channels.screens import render as screens_render
from channels.screens.config import load_screens_config
from channels.screens.render import (
    ChromiumRenderer,
    PillowRenderer,
    RenderJob,
    SlideNotice,
    SlidesUnavailable,
    UnavailableRenderer,
    chromium_available,
    make_renderer,
    packaged_cjk_font,
    system_has_cjk_font,
    template_env,
)
from tests.screens_support import (  # noqa: F401  (clean_screens is a fixture)
    ROOT,
    clean_screens,
    context,
    make_channel,
    payload,
    write_screens_file,
)

TEMPLATES = ROOT / "templates"


def notice(title: str) -> SlideNotice:
    return SlideNotice(document_id=1, version=1, title=title, doc_number="", publisher="", category="",
                       date_text="2026-11-20", period_text="2026-11-20 - 2026-12-20", index_no="", excerpt="",
                       site_url="")


# Same length, same punctuation; only the Chinese characters differ.
TITLE_A, TITLE_B = "关于规范行政执法公示工作的通知", "司法局召开全市年度普法工作会议"
assert len(TITLE_A) == len(TITLE_B)


def fontconfig(tmp_path: Path, *font_dirs: Path) -> Path:
    """A fontconfig file that knows only these directories (no system fonts at all)."""
    dirs = "".join(f"<dir>{d}</dir>" for d in font_dirs)
    conf = tmp_path / f"fonts-{len(font_dirs)}-{abs(hash(font_dirs))}.conf"
    conf.write_text(f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd"><fontconfig>{dirs}'
                    f"<cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>", encoding="utf-8")
    return conf


def latin_font_dir(tmp_path: Path) -> Path:
    """A directory holding one font without CJK characters (Pillow's built-in Aileron)."""
    d = tmp_path / "latin"
    d.mkdir(exist_ok=True)
    font = ImageFont.load_default(20)
    assert "Aileron" in font.getname()[0]
    (d / "Aileron-Regular.otf").write_bytes(font.font_bytes)
    return d


@pytest.fixture
def no_system_cjk_font(tmp_path, monkeypatch):
    """This process and the browsers it starts see no system font; the known system CJK paths are hidden too."""
    from orchestrator.settings import get_settings

    empty = tmp_path / "no-fonts"
    empty.mkdir()
    monkeypatch.setenv("FONTCONFIG_FILE", str(fontconfig(tmp_path, empty)))
    monkeypatch.setenv("ORCH_VAR_DIR", str(tmp_path / "var"))  # the browser's fontconfig file is written there
    get_settings.cache_clear()
    monkeypatch.setattr(screens_render, "CJK_FONT_PATHS", ())
    if subprocess.run(["which", "fc-list"], capture_output=True).returncode == 0:
        assert subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip() == ""
    assert not system_has_cjk_font()
    yield tmp_path
    # Restore the environment first, then drop the settings read from it: the other way round, the next get_settings()
    # would cache this test's ORCH_VAR_DIR for the rest of the process.
    monkeypatch.undo()
    get_settings.cache_clear()


def title_band(png: bytes) -> Image.Image:
    """The slide's upper half (heading and title), where the two titles differ."""
    im = Image.open(io.BytesIO(png)).convert("L")
    return im.crop((0, 0, im.width, im.height // 2))


def differs(a: bytes, b: bytes) -> bool:
    return ImageChops.difference(title_band(a), title_band(b)).getbbox() is not None


def screen_spec(tmp_path: Path):
    return load_screens_config(write_screens_file(tmp_path / "screens.yaml")).screens[0]


def test_packaged_font_is_installed_with_the_product():
    font = packaged_cjk_font()
    assert font is not None and font.is_file()
    faces = [ImageFont.truetype(str(font), 12, index=i).getname()[0] for i in range(5)]
    assert "Noto Sans CJK SC" in faces


def test_pillow_draws_chinese_with_only_the_packaged_font(no_system_cjk_font):
    tmp_path = no_system_cjk_font
    screen = screen_spec(tmp_path)
    renderer = make_renderer("pillow", templates_dir=TEMPLATES)
    assert isinstance(renderer, PillowRenderer) and renderer.font_path == str(packaged_cjk_font())
    a, b = renderer.render([RenderJob(screen, notice(TITLE_A)), RenderJob(screen, notice(TITLE_B))])
    assert differs(a, b), "the two Chinese titles rendered identically (tofu)"

    # Control: a font without Chinese draws both titles as the same boxes, so the comparison above detects tofu.
    latin = PillowRenderer(str(latin_font_dir(tmp_path) / "Aileron-Regular.otf"))
    ca, cb = latin.render([RenderJob(screen, notice(TITLE_A)), RenderJob(screen, notice(TITLE_B))])
    assert not differs(ca, cb)


@pytest.mark.browser
@pytest.mark.skipif(not chromium_available(), reason="Debian chromium is not installed (scripts/ensure-services.sh)")
def test_chromium_draws_chinese_with_only_the_packaged_font(no_system_cjk_font, monkeypatch):
    tmp_path = no_system_cjk_font
    screen = screen_spec(tmp_path)
    renderer = make_renderer("chromium", templates_dir=TEMPLATES)
    assert isinstance(renderer, ChromiumRenderer) and renderer.font == packaged_cjk_font()
    with renderer.session():
        a, b = renderer.render([RenderJob(screen, notice(TITLE_A)), RenderJob(screen, notice(TITLE_B))])
    assert differs(a, b), "the two Chinese titles rendered identically (tofu)"

    # Control: the same browser with only a Latin font (no packaged font) draws tofu: identical titles.
    monkeypatch.setattr(screens_render, "packaged_cjk_font", lambda: None)
    monkeypatch.setenv("FONTCONFIG_FILE", str(fontconfig(tmp_path, latin_font_dir(tmp_path))))
    control = ChromiumRenderer(template_env(str(TEMPLATES)), TEMPLATES)
    assert control.font is None
    ca, cb = control.render([RenderJob(screen, notice(TITLE_A)), RenderJob(screen, notice(TITLE_B))])
    assert not differs(ca, cb)


@pytest.mark.usefixtures("clean_screens")
def test_without_any_cjk_font_the_delivery_says_so_and_the_live_page_works(no_system_cjk_font, monkeypatch):
    tmp_path = no_system_cjk_font
    monkeypatch.setattr(screens_render, "packaged_cjk_font", lambda: None)
    for kind in ("auto", "chromium", "pillow"):
        assert isinstance(make_renderer(kind, templates_dir=TEMPLATES), UnavailableRenderer), kind

    ch = make_channel(tmp_path, renderer="auto")
    doc = payload()
    with pytest.raises(SlidesUnavailable) as err:
        ch.run(context(doc))
    assert isinstance(err.value, PermanentError) and not isinstance(err.value, NotConfigured)
    assert "中文字体" in err.value.message and "实时页面" in err.value.message
    # The live page shows the notice: it needs no server font (the screen's own browser draws the text).
    for screen in ch.screens.screens:
        feed = ch.service.feed(screen)
        assert doc.document_id in [n["document"] for n in feed["notices"]], screen.id

    # The same through the app's routes (the repository's channels.yaml, this test's screens file).
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from channels.screens.web import router

    monkeypatch.setenv("ORCH_SCREENS_FILE", str(tmp_path / "screens.yaml"))
    monkeypatch.setenv("ORCH_SCREENS_BUNDLE_DIR", str(tmp_path / "bundles"))
    client = TestClient(FastAPI(routes=router.routes))
    page = client.get("/screens/community")
    assert page.status_code == 200 and doc.title in page.text
    feed = client.get("/screens/community/feed.json")
    assert feed.status_code == 200 and [n["document"] for n in feed.json()["notices"]] == [doc.document_id]
    # Only the PNG export says it cannot be made, and why.
    bundle = client.get("/screens/community/bundle.zip")
    assert bundle.status_code == 503 and "中文字体" in bundle.text

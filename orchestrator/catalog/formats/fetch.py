"""Fetch a catalog from a URL (the agency's published page, or a file it links to) with requests.

The download is bounded in size (the readers' MAX_BYTES) and time, the form is told by Content-Type and content, and
an HTML page's encoding comes from the HTTP header, the page's meta charset or detection (GBK pages are common). The
result is written to a temporary file the ordinary readers import; the caller deletes it.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.readers import MAX_BYTES

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
TOTAL_TIMEOUT = 60.0
USER_AGENT = "Mozilla/5.0 (compatible; orchestrator-catalog-import)"
_SUFFIX_BY_TYPE = {
    "text/html": ".html", "application/xhtml+xml": ".html", "application/pdf": ".pdf", "text/csv": ".csv",
    "text/plain": ".txt", "application/vnd.ms-excel": ".xls", "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}
_KNOWN_SUFFIXES = {".html", ".htm", ".shtml", ".pdf", ".csv", ".txt", ".xls", ".xlsx", ".doc", ".docx", ".wps"}
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-]+)", re.IGNORECASE)


def is_url(text: str) -> bool:
    return bool(re.match(r"^https?://", str(text).strip(), re.IGNORECASE))


@dataclass
class Fetched:
    url: str
    data: bytes
    content_type: str
    charset: str | None
    suffix: str


def fetch(url: str, *, max_bytes: int = MAX_BYTES, total_timeout: float = TOTAL_TIMEOUT) -> Fetched:
    # lazy: the HTML reader (lxml) only for pages that are HTML
    import requests

    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise CatalogImportError(f"“{url}”不是有效的网址（应以 http:// 或 https:// 开头）")
    started = time.monotonic()
    try:
        with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), headers={"User-Agent": USER_AGENT},
                          allow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise CatalogImportError(f"无法获取 {url}：服务器返回 {resp.status_code}，请检查网址是否正确、页面是否仍在")
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise CatalogImportError(_too_big(url, int(declared), max_bytes))
            chunks, size = [], 0
            # read1 (urllib3 2): whatever has arrived (one socket read), so a trickling server meets the total time
            # limit; 16 KB read at a time is at most ~16 MB once inflated (gzip bombs).
            read = getattr(resp.raw, "read1", None) or resp.raw.read
            while True:
                chunk = read(16384, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise CatalogImportError(_too_big(url, size, max_bytes))
                if time.monotonic() - started > total_timeout:
                    raise CatalogImportError(f"下载 {url} 超过 {total_timeout:.0f} 秒仍未完成，已放弃；请稍后重试，或在浏览器中另存网页后导入文件")
                chunks.append(chunk)
            content_type = resp.headers.get("Content-Type", "")
            final_url = resp.url
    except CatalogImportError:
        raise
    except requests.exceptions.Timeout:
        raise CatalogImportError(f"连接 {url} 超时，请稍后重试，或在浏览器中另存网页后导入文件") from None
    except requests.exceptions.RequestException as exc:
        raise CatalogImportError(f"无法获取 {url}：{type(exc).__name__}，请检查网址和网络，或在浏览器中另存网页后导入文件") from None
    data = b"".join(chunks)
    if not data.strip():
        raise CatalogImportError(f"{url} 返回的内容是空的")
    mime = content_type.split(";")[0].strip().lower()
    m = _CHARSET.search(content_type)
    suffix = Path(unquote(urlsplit(final_url).path)).suffix.lower()
    if suffix not in _KNOWN_SUFFIXES:
        suffix = _SUFFIX_BY_TYPE.get(mime, ".html" if b"<" in data[:1024] else ".txt")
    return Fetched(final_url, data, mime, m.group(1) if m else None, suffix)


def _too_big(url: str, size: int, limit: int) -> str:
    return (f"{url} 的内容过大（{size / 1024 / 1024:.1f} MB 以上），超过 {limit // 1024 // 1024} MB 上限，不像是一份目录；"
            "请确认网址是否正确")


def fetch_for_import(url: str) -> Fetched:
    """Download `url` for the readers (the web form saves ``data`` under ``suffix``): an HTML page is re-encoded as
    UTF-8 with a BOM, so the encoding the server declared in its header is not lost once the bytes are a file."""
    got = fetch(url)
    if got.suffix in (".html", ".htm", ".shtml") and not got.data.startswith(b"\xef\xbb\xbf"):
        # lazy: the HTML reader (lxml) only for pages that are HTML
        from orchestrator.catalog.formats.html import decode_html

        got.data = b"\xef\xbb\xbf" + decode_html(got.data, url, got.charset).encode("utf-8")
        got.charset = "utf-8"
    return got


def fetch_to_file(url: str, directory: Path | None = None) -> Path:
    """Download `url` into a temporary file the readers can import. The caller deletes the file (or its directory)."""
    got = fetch_for_import(url)
    data = got.data
    name = Path(unquote(urlsplit(got.url).path)).stem or "catalog"
    name = re.sub(r"[^\w\-.]+", "_", name)[:60] or "catalog"
    fd, tmp = tempfile.mkstemp(prefix=f"{name}-", suffix=got.suffix, dir=directory)
    with open(fd, "wb") as fh:
        fh.write(data)
    return Path(tmp)

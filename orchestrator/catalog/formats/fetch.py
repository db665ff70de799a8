"""Fetch a catalog from a URL (the agency's published page, or a file it links to) with requests.

The download is bounded in size (the readers' MAX_BYTES) and time, the form is told by Content-Type and content, and
an HTML page's encoding comes from the HTTP header, the page's meta charset or detection (GBK pages are common). The
result is written to a temporary file the ordinary readers import; the caller deletes it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.readers import MAX_BYTES
from orchestrator.settings import get_settings

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
TOTAL_TIMEOUT = 60.0
MAX_REDIRECTS = 5
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


def _check_address(url: str, allow_private: bool) -> None:
    """Refuse a URL whose host is not a public address (loopback, private ranges, link-local, cloud metadata …) unless
    the deployment allows it: the import runs on the server, so a URL typed into the form must not become a way to reach
    the server's own network. Every redirect hop is checked too."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CatalogImportError(f"“{url}”不是有效的网址（应以 http:// 或 https:// 开头）")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        raise CatalogImportError(f"无法解析 {url} 的主机名“{parts.hostname}”，请检查网址") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            raise CatalogImportError(
                f"{url} 指向内网或本机地址（{address}），出于安全考虑不从这类地址导入；请在浏览器中另存网页后导入文件，"
                "或由系统管理员设置 ORCH_CATALOG_FETCH_ALLOW_PRIVATE=1 允许从内网导入")


def fetch(url: str, *, max_bytes: int = MAX_BYTES, total_timeout: float = TOTAL_TIMEOUT,
          allow_private: bool | None = None) -> Fetched:
    # lazy: the HTML reader (lxml) only for pages that are HTML
    import requests

    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise CatalogImportError(f"“{url}”不是有效的网址（应以 http:// 或 https:// 开头）")
    if allow_private is None:
        allow_private = get_settings().catalog_fetch_allow_private
    started = time.monotonic()
    try:
        # Redirects are followed by hand so that every hop's address is checked before it is requested.
        for _hop in range(MAX_REDIRECTS + 1):
            _check_address(url, allow_private)
            resp = requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                headers={"User-Agent": USER_AGENT}, allow_redirects=False)
            if resp.is_redirect and resp.headers.get("Location"):
                url = urljoin(url, resp.headers["Location"])
                resp.close()
                continue
            break
        else:
            raise CatalogImportError(f"{url} 重定向次数过多（超过 {MAX_REDIRECTS} 次），已放弃")
        with resp:
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

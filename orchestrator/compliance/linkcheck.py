"""Link and attachment health of the product's own public outputs (site pages, gazette pages and feeds).

A run crawls the generated pages over HTTP from their public URLs (the site and gazette destinations of
``channels.yaml``, plus ``ORCH_LINKCHECK_ROOTS``), breadth first, and checks every link once per run:

- a link to the same host as an output is *internal*: it must answer (HEAD, else GET) below 400; pages under an
  output's base URL are crawled in turn (at most ``linkcheck_max_pages`` per run);
- a link under ``files/<document>/<sha256 prefix><ext>`` is an *attachment*: its bytes are read and hashed and must
  match the sha256 stored for that document's attachment (or at least the prefix its name carries);
- any other http(s) link is *external*: it must answer, and must not end up (through redirects) on another
  registrable domain — a link that now leads elsewhere is a 暗链 (dark link). External links to private or loopback
  addresses are never fetched unless ``linkcheck_allow_private`` is set; hosts in ``linkcheck_skip_hosts`` neither.

Politeness: one request at a time, at most ``linkcheck_rate_per_host`` requests per second per host, a timeout on each,
no redirect followed blindly (each hop is checked like the first), a cap on links per run. Findings are stored in
``link_problems`` keyed by (kind, page, link): found again → ``last_seen`` moves; no longer found on a page the run
visited (or anywhere, when the run was complete) → closed (``resolved_at``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import re
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import requests
import tldextract
from lxml import etree
from lxml import html as lxml_html
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channels.registry import current as channel_registry
from orchestrator.compliance.models import LinkCheckRun, LinkProblem
from orchestrator.db import session_scope
from orchestrator.models import Attachment, DocumentVersion, utcnow
from orchestrator.settings import Settings, get_settings

log = logging.getLogger(__name__)

KIND_LABELS = {
    "broken_internal": "站内链接失效",
    "external_failed": "外部链接无法访问",
    "external_redirect": "外部链接跳转到其他网站（疑似暗链）",
    "attachment_missing": "附件缺失",
    "attachment_changed": "附件内容与登记的校验值不一致",
}
# Adapters that write static public output, and where the web app mounts them by default.
STATIC_ADAPTERS = {"site": ("site", ["index.html"]),
                   "gazette": ("gazette", ["index.html", "feeds/all/atom.xml", "feeds/all/rss.xml"])}
ATTACHMENT_PATH = re.compile(r"^files/(\d{1,12})/([0-9a-f]{16,64})(\.[a-z0-9]{1,8})?$")
PAGE_SUFFIXES = (".html", ".htm", ".xml", "/")
MAX_REDIRECTS = 5
MAX_PAGE_BYTES = 10 * 1024 * 1024
STALE_RUN = dt.timedelta(hours=2)  # a run still "running" after this is taken for dead (worker killed)
USER_AGENT = "ZhengwuLinkCheck/1.0 (+self-inspection of own public pages)"


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # The bundled Public Suffix List snapshot only: nothing is downloaded at run time, nothing cached on disk.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registrable_domain(host: str) -> str:
    """``www.genhe.gov.cn`` → ``genhe.gov.cn``; an IP address or a bare name stays as it is."""
    host = (host or "").lower().rstrip(".")
    r = _extractor()(host)
    return r.top_domain_under_public_suffix or host


def is_private_host(host: str) -> bool:
    """Whether ``host`` is (or resolves to) a private, loopback, link-local or otherwise non-public address."""
    host = (host or "").strip("[]")
    try:
        addrs = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addrs = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in socket.getaddrinfo(host, None)]
        except (OSError, UnicodeError, ValueError):
            return False  # unresolvable: the request itself fails and is reported
    return any(a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_multicast or a.is_unspecified
               for a in addrs)


@dataclass(frozen=True)
class Root:
    """One public output: its base URL (ending in "/") and the pages the crawl starts from."""

    label: str
    base: str
    seeds: tuple[str, ...]


def discover_roots(settings: Settings | None = None) -> list[Root]:
    """The site and gazette destinations of ``channels.yaml`` (enabled ones), plus ``ORCH_LINKCHECK_ROOTS``."""
    settings = settings or get_settings()
    out: list[Root] = []
    for code, dests in channel_registry(settings).channels.items():
        for d in dests:
            if not d.enabled or d.adapter not in STATIC_ADAPTERS:
                continue
            mount, seeds = STATIC_ADAPTERS[d.adapter]
            base = str(d.config.get("public_base_url") or "") or settings.public_url.rstrip("/") + f"/{mount}/"
            base = base if base.endswith("/") else base + "/"
            out.append(Root(f"{code}/{d.name}", base, tuple(base + s for s in seeds)))
    for url in settings.linkcheck_roots:
        url = url.strip()
        if url.startswith(("http://", "https://")):
            base = url if url.endswith("/") else url.rsplit("/", 1)[0] + "/"
            out.append(Root(url, base, (url if not url.endswith("/") else url + "index.html",)))
    return out


@dataclass(frozen=True)
class Finding:
    kind: str
    problem: str
    detail: str = ""


@dataclass
class Report:
    """What one run saw (also returned by :func:`run_check`)."""

    run_id: int = 0
    pages: int = 0
    links: int = 0
    skipped: int = 0
    truncated: bool = False
    found: dict[str, tuple[Finding, str, str, str]] = field(default_factory=dict)  # key → finding, page, link, text
    visited: set[str] = field(default_factory=set)
    opened: int = 0
    closed: int = 0


def problem_key(kind: str, page: str, link: str) -> str:
    return hashlib.sha256(f"{kind}\n{page}\n{link}".encode()).hexdigest()


def _status_text(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return "请求超时"
    if isinstance(exc, requests.ConnectionError):
        return "无法连接"
    if isinstance(exc, requests.TooManyRedirects):
        return "重定向次数过多"
    return "请求出错"


class Fetcher:
    """HTTP with a per-host rate limit and a timeout; redirects are returned, never followed here."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        rate = settings.linkcheck_rate_per_host
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at: dict[str, float] = {}
        self.requests = 0

    def _wait(self, host: str) -> None:
        now = time.monotonic()
        at = self.next_at.get(host, 0.0)
        if at > now:
            time.sleep(at - now)
            now = at
        self.next_at[host] = now + self.interval

    def request(self, method: str, url: str, *, stream: bool = False) -> requests.Response:
        self._wait(urlsplit(url).netloc.lower())
        self.requests += 1
        t = self.settings.linkcheck_timeout_seconds
        return self.http.request(method, url, timeout=(t, t), allow_redirects=False, stream=stream)

    def probe(self, url: str) -> requests.Response:
        """HEAD, or GET (body not read) where a server refuses HEAD."""
        r = self.request("HEAD", url)
        if r.status_code in (403, 405, 501):
            r.close()
            r = self.request("GET", url, stream=True)
            r.close()
        return r

    def close(self) -> None:
        self.http.close()


class Checker:
    """One crawl over the roots with the per-run caches (a link is checked once however many pages carry it)."""

    def __init__(self, settings: Settings, roots: list[Root], session: Session | None = None):
        self.settings = settings
        self.roots = roots
        self.session = session
        self.fetcher = Fetcher(settings)
        self.origins = {self._origin(r.base) for r in roots}
        self.skip_hosts = {h.strip().lower() for h in settings.linkcheck_skip_hosts if h.strip()}
        self.cache: dict[str, Finding | None | str] = {}  # url → finding, None (fine) or "skip"

    @staticmethod
    def _origin(url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc.lower()

    def is_internal(self, url: str) -> bool:
        return self._origin(url) in self.origins

    def root_of(self, url: str) -> Root | None:
        for r in self.roots:
            if url.startswith(r.base):
                return r
        return None

    # --- the three kinds of link ---------------------------------------------------------------------
    def check(self, url: str) -> Finding | None | str:
        if url not in self.cache:
            host = (urlsplit(url).hostname or "").lower()
            if host in self.skip_hosts:
                self.cache[url] = "skip"
            elif self.is_internal(url):
                root = self.root_of(url)
                m = ATTACHMENT_PATH.match(url[len(root.base):]) if root else None
                self.cache[url] = self.check_attachment(url, int(m.group(1)), m.group(2)) if m else self.check_internal(url)
            else:
                self.cache[url] = self.check_external(url)
        return self.cache[url]

    def check_internal(self, url: str) -> Finding | None:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                r = self.fetcher.probe(current)
            except requests.RequestException as exc:
                return Finding("broken_internal", f"站内链接无法访问（{_status_text(exc)}）", f"{current}: {exc}")
            location = r.headers.get("location")
            if 300 <= r.status_code < 400 and location:
                current = urljoin(current, location)
                if not self.is_internal(current):
                    return self.check_external(current)
                continue
            if r.status_code >= 400:
                return Finding("broken_internal", f"站内链接失效（HTTP {r.status_code}）", current)
            return None
        return Finding("broken_internal", "站内链接重定向次数过多", url)

    def stored_sha256(self, document_id: int, prefix: str) -> str:
        """The full sha256 stored for the document's attachment whose digest starts with ``prefix`` ("" if none)."""
        if self.session is None:
            return ""
        for (digest,) in self.session.execute(
                select(Attachment.sha256).join(DocumentVersion, DocumentVersion.id == Attachment.version_id)
                .where(DocumentVersion.document_id == document_id)):
            if digest and digest.lower().startswith(prefix):
                return digest.lower()
        return ""

    def check_attachment(self, url: str, document_id: int, prefix: str) -> Finding | None:
        try:
            r = self.fetcher.request("GET", url, stream=True)
        except requests.RequestException as exc:
            return Finding("attachment_missing", f"附件无法访问（{_status_text(exc)}）", f"{url}: {exc}")
        with r:
            if r.status_code >= 400 or 300 <= r.status_code < 400:
                return Finding("attachment_missing", f"附件缺失（HTTP {r.status_code}）", url)
            h = hashlib.sha256()
            size = 0
            try:
                for chunk in r.iter_content(1 << 16):
                    h.update(chunk)
                    size += len(chunk)
                    if size > self.settings.linkcheck_max_attachment_bytes:
                        return None  # too big to hash within a polite run: existence checked only
            except requests.RequestException as exc:
                return Finding("attachment_missing", f"附件下载中断（{_status_text(exc)}）", f"{url}: {exc}")
        actual = h.hexdigest()
        expected = self.stored_sha256(document_id, prefix) or prefix
        if not actual.startswith(expected):
            return Finding("attachment_changed", "附件内容与登记的校验值不一致（文件可能被替换或损坏）",
                           f"登记 {expected}，实际 {actual}，{size} 字节")
        return None

    def check_external(self, url: str) -> Finding | None | str:
        first_domain = registrable_domain(urlsplit(url).hostname or "")
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            host = (urlsplit(current).hostname or "").lower()
            if host in self.skip_hosts:
                return "skip"
            if not self.settings.linkcheck_allow_private and is_private_host(host):
                return "skip"  # never fetch internal addresses on behalf of a link someone typed into a body
            try:
                r = self.fetcher.probe(current)
            except requests.RequestException as exc:
                return Finding("external_failed", f"外部链接无法访问（{_status_text(exc)}）", f"{current}: {exc}")
            location = r.headers.get("location")
            if 300 <= r.status_code < 400 and location:
                nxt = urljoin(current, location)
                if urlsplit(nxt).scheme not in ("http", "https"):
                    return Finding("external_failed", "外部链接跳转到非网页地址", nxt)
                current = nxt
                continue
            final_host = (urlsplit(current).hostname or "").lower()
            if registrable_domain(final_host) != first_domain:
                return Finding("external_redirect", f"外部链接已跳转到其他网站 {final_host}（疑似暗链）",
                               f"{url} → {current}（HTTP {r.status_code}）")
            if r.status_code >= 400:
                return Finding("external_failed", f"外部链接无法访问（HTTP {r.status_code}）", current)
            return None
        return Finding("external_failed", "外部链接重定向次数过多", url)

    # --- pages --------------------------------------------------------------------------------------
    def fetch_page(self, url: str) -> tuple[bytes, str] | Finding:
        try:
            r = self.fetcher.request("GET", url, stream=True)
        except requests.RequestException as exc:
            return Finding("broken_internal", f"页面无法访问（{_status_text(exc)}）", f"{url}: {exc}")
        with r:
            if r.status_code >= 300:
                return Finding("broken_internal", f"页面无法访问（HTTP {r.status_code}）", url)
            body = b""
            for chunk in r.iter_content(1 << 16):
                body += chunk
                if len(body) > MAX_PAGE_BYTES:
                    break
            return body, r.headers.get("content-type", "")


def extract_links(body: bytes, content_type: str, page_url: str) -> list[tuple[str, str]]:
    """(absolute URL without fragment, link text) of every link, asset and enclosure on an HTML page or a feed."""
    found: list[tuple[str, str]] = []
    is_xml = "xml" in content_type or page_url.endswith(".xml")
    try:
        if is_xml:
            root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
            if root is None:
                return []
            for el in root.iter():
                if not isinstance(el.tag, str):
                    continue
                local = etree.QName(el).localname
                for attr in ("href", "url"):
                    if el.get(attr):
                        found.append((el.get(attr), ""))
                if local == "link" and (el.text or "").strip() and not el.get("href"):
                    found.append((el.text.strip(), ""))
        else:
            doc = lxml_html.document_fromstring(body or b"<html></html>")
            for el in doc.iter("a", "link", "img", "script", "iframe", "source"):
                ref = el.get("href") if el.tag in ("a", "link") else el.get("src")
                if ref:
                    found.append((ref, (el.text_content() if el.tag == "a" else "").strip()[:200]))
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return []
    out = []
    for ref, text in found:
        ref = ref.strip()
        if not ref or ref.startswith(("#", "mailto:", "tel:", "javascript:", "data:")):
            continue
        absolute, _ = urldefrag(urljoin(page_url, ref))
        if urlsplit(absolute).scheme in ("http", "https"):
            out.append((absolute, text))
    return out


def crawl(checker: Checker, report: Report) -> None:
    s = checker.settings
    queue: deque[str] = deque(seed for r in checker.roots for seed in r.seeds)
    queued = set(queue)

    def note(finding: Finding, page: str, link: str, text: str) -> None:
        report.found[problem_key(finding.kind, page, link)] = (finding, page, link, text)

    while queue:
        if report.pages >= s.linkcheck_max_pages:
            report.truncated = True
            break
        url = queue.popleft()
        report.visited.add(url)
        report.pages += 1
        got = checker.fetch_page(url)
        if isinstance(got, Finding):
            note(got, url, url, "")
            continue
        body, ctype = got
        for link, text in extract_links(body, ctype, url):
            if report.links >= s.linkcheck_max_links:
                report.truncated = True
                break
            report.links += 1
            outcome = checker.check(link)
            if outcome == "skip":
                report.skipped += 1
                continue
            if isinstance(outcome, Finding):
                note(outcome, url, link, text)
                continue
            if (link not in queued and checker.root_of(link) is not None and link.endswith(PAGE_SUFFIXES)
                    and not ATTACHMENT_PATH.match(link[len(checker.root_of(link).base):])):
                queued.add(link)
                queue.append(link)
        if report.truncated:
            break


def _store(session: Session, run: LinkCheckRun, report: Report) -> None:
    now = utcnow()
    existing = {p.key: p for p in session.scalars(select(LinkProblem).where(LinkProblem.key.in_(list(report.found))))} \
        if report.found else {}
    for key, (finding, page, link, text) in report.found.items():
        p = existing.get(key)
        if p is None:
            p = LinkProblem(key=key, kind=finding.kind, page_url=page, link_url=link, first_seen=now)
            session.add(p)
            report.opened += 1
        elif p.resolved_at is not None:  # broken again after a fix: a new episode
            p.first_seen = now
            p.resolved_at = None
            report.opened += 1
        p.link_text = text[:200]
        p.problem = finding.problem[:300]
        p.detail = finding.detail[:2000]
        p.last_seen = now
        p.last_run_id = run.id
    for p in session.scalars(select(LinkProblem).where(LinkProblem.resolved_at.is_(None))):
        if p.key in report.found:
            continue
        if report.truncated and p.page_url not in report.visited:
            continue  # not looked at this time: stays as it was
        p.resolved_at = now
        report.closed += 1


def running_run(session: Session) -> LinkCheckRun | None:
    return session.scalars(select(LinkCheckRun).where(LinkCheckRun.finished_at.is_(None),
                                                      LinkCheckRun.started_at > utcnow() - STALE_RUN)
                           .order_by(LinkCheckRun.id.desc()).limit(1)).first()


def run_check(trigger: str = "beat", settings: Settings | None = None) -> Report | None:
    """One full run (None when another run is still going). Bounded by the settings; safe to call from beat."""
    settings = settings or get_settings()
    with session_scope() as s:
        if running_run(s) is not None:
            log.info("link check: a run is already in progress, skipped")
            return None
        run = LinkCheckRun(trigger=trigger[:20], started_at=utcnow(), note="")
        s.add(run)
        s.flush()
        run_id = run.id
    report = Report(run_id=run_id)
    roots = discover_roots(settings)
    try:
        with session_scope() as s:
            checker = Checker(settings, roots, s)
            try:
                crawl(checker, report)
            finally:
                checker.fetcher.close()
            run = s.get(LinkCheckRun, run_id)
            _store(s, run, report)
            run.pages, run.links, run.skipped, run.truncated = report.pages, report.links, report.skipped, report.truncated
            run.problems = len(report.found)
            run.note = ("未配置任何公开输出（网站专栏或政府公报）" if not roots else
                        "已达到本次检查的页面或链接上限，部分页面未检查" if report.truncated else "")
            run.finished_at = utcnow()
    except Exception as exc:
        with session_scope() as s:
            run = s.get(LinkCheckRun, run_id)
            run.finished_at = utcnow()
            run.note = f"检查中断：{type(exc).__name__}"[:500]
        raise
    log.info("link check %s: %s pages, %s links, %s problems (%s new, %s fixed)", run_id, report.pages, report.links,
             len(report.found), report.opened, report.closed)
    return report


def recheck_problem(problem_id: int, settings: Settings | None = None) -> bool | None:
    """Check one stored problem again now: its page still carries the link and the link is still broken → True (kept
    open, last_seen moves); fixed or no longer linked → False (closed). None: no such open problem."""
    settings = settings or get_settings()
    with session_scope() as s:
        p = s.get(LinkProblem, problem_id)
        if p is None or p.resolved_at is not None:
            return None
        checker = Checker(settings, discover_roots(settings), s)
        try:
            if p.page_url == p.link_url:  # the page itself was unreachable
                got = checker.fetch_page(p.page_url)
                still: Finding | None = got if isinstance(got, Finding) else None
            else:
                got = checker.fetch_page(p.page_url)
                if isinstance(got, Finding):
                    still = Finding(p.kind, p.problem, p.detail)  # cannot see the page: keep the problem as it was
                elif p.link_url not in {u for u, _ in extract_links(got[0], got[1], p.page_url)}:
                    still = None
                else:
                    outcome = checker.check(p.link_url)
                    still = outcome if isinstance(outcome, Finding) else None
        finally:
            checker.fetcher.close()
        now = utcnow()
        if still is None:
            p.resolved_at = now
            return False
        p.last_seen = now
        p.problem = still.problem[:300]
        p.detail = still.detail[:2000]
        return True


def summary(session: Session) -> dict[str, Any]:
    """Open problems per kind and the last run: one small GROUP BY on the partial index, one row."""
    counts = dict(session.execute(select(LinkProblem.kind, func.count()).where(LinkProblem.resolved_at.is_(None))
                                  .group_by(LinkProblem.kind)).all())
    last = session.scalars(select(LinkCheckRun).order_by(LinkCheckRun.id.desc()).limit(1)).first()
    return {"open": sum(counts.values()), "by_kind": {k: counts.get(k, 0) for k in KIND_LABELS}, "last_run": last}


def open_count(session: Session) -> int:
    """Open problems (the ops dashboard's card): a count over the partial index of open rows."""
    return session.scalar(select(func.count()).select_from(LinkProblem).where(LinkProblem.resolved_at.is_(None))) or 0

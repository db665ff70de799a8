"""E-mail notices built here, sent over SMTP with the settings Apprise parsed from the ``mailto://`` route.

Apprise's e-mail plugin writes the text/plain alternative of an HTML mail itself (a generic HTML-to-text conversion
that puts every table label and value on its own line) and takes no text version from the caller. So the message is
built with Python's ``email`` package — ``multipart/alternative`` of our own structured text and the inline-styled
HTML, whose body images travel as ``multipart/related`` parts referenced by ``cid:`` — and handed to ``smtplib``
with the route's server, port, security mode, login, sender and recipients as Apprise read them from the URL.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any

SMTP_ERRORS = (OSError, smtplib.SMTPException)


@dataclass(frozen=True)
class InlineImage:
    cid: str  # without the angle brackets
    data: bytes
    content_type: str
    filename: str  # ASCII; some clients show it


@dataclass
class MailContent:
    subject: str
    text: str
    html: str
    images: list[InlineImage] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str = ""


def build_message(content: MailContent, *, from_addr: tuple[str, str], to: tuple[str, str],
                  cc: list[str], reply_to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = content.subject
    msg["From"] = formataddr(from_addr, charset="utf-8")
    msg["To"] = formataddr(to, charset="utf-8")
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = ", ".join(reply_to)
    msg["Date"] = formatdate(time.time(), localtime=True)
    if content.message_id:
        msg["Message-ID"] = content.message_id
    for name, value in content.headers.items():
        if name.lower() not in {"subject", "from", "to", "cc", "bcc", "date", "message-id", "reply-to"}:
            msg[name] = value
    msg.set_content(content.text, subtype="plain", charset="utf-8")
    if not content.html:  # the route asked for plain text (format=text)
        return msg
    msg.add_alternative(content.html, subtype="html", charset="utf-8")
    if content.images:
        html_part = msg.get_payload()[1]
        for img in content.images:
            maintype, _, subtype = img.content_type.partition("/")
            html_part.add_related(img.data, maintype=maintype, subtype=subtype or "octet-stream",
                                  cid=f"<{img.cid}>", filename=img.filename, disposition="inline")
    return msg


def message_id(push_id: str, from_address: str) -> str:
    """A stable Message-ID per (delivery, member, route): a resend after a crash carries the same id, so mail
    systems and readers can drop the duplicate."""
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<push-{hashlib.sha256(push_id.encode()).hexdigest()[:32]}@{domain}>"


def send_email(plugin: Any, content: MailContent, timeout: float) -> tuple[bool, str]:
    """Send to every target of an Apprise e-mail plugin (one message each, Bcc kept off the headers).

    Returns (all accepted, technical detail of the failure)."""
    from_name, from_address = (list(getattr(plugin, "from_addr", None) or ["", ""]) + ["", ""])[:2]
    names: dict[str, str] = getattr(plugin, "names", None) or {}
    cc_all = set(getattr(plugin, "cc", None) or ())
    bcc_all = set(getattr(plugin, "bcc", None) or ())
    reply_all = set(getattr(plugin, "reply_to", None) or ())
    targets = list(getattr(plugin, "targets", None) or [])
    if not targets:
        return False, "no e-mail recipients"
    mode = str(getattr(plugin, "secure_mode", "") or "insecure").lower()  # insecure / starttls / ssl, as Apprise read it
    host = getattr(plugin, "smtp_host", "") or getattr(plugin, "host", "")
    port = int(getattr(plugin, "port", 0) or (465 if mode == "ssl" else 587 if mode == "starttls" else 25))
    context = ssl.create_default_context()
    if not getattr(plugin, "verify_certificate", True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if mode == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
    except SMTP_ERRORS as exc:
        return False, f"connect {host}:{port}: {exc!r}"
    try:
        if mode == "starttls":
            smtp.starttls(context=context)
        user, password = getattr(plugin, "user", None), getattr(plugin, "password", None)
        if user and password:
            smtp.login(user, password)
        for to_name, to_address in targets:
            cc = [formataddr((names.get(a, ""), a), charset="utf-8") for a in sorted(cc_all - bcc_all - {to_address})]
            reply = [formataddr((names.get(a, ""), a), charset="utf-8") for a in sorted(reply_all - {to_address})]
            msg = build_message(content, from_addr=(from_name or "", from_address), to=(to_name or "", to_address),
                                cc=cc, reply_to=reply)
            rcpt = [to_address, *sorted(cc_all - bcc_all - {to_address}), *sorted(bcc_all - {to_address})]
            refused = smtp.send_message(msg, from_addr=from_address, to_addrs=rcpt)
            if refused:
                return False, f"refused: {refused!r}"
    except SMTP_ERRORS as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        try:
            smtp.quit()
        except SMTP_ERRORS:
            smtp.close()
    return True, ""

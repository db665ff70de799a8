"""Document payloads and delivery contexts for the CMS adapter tests (shared by the Wagtail and WordPress tests)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
from pathlib import Path

from channels.base import Action, AttachmentInfo, DeliveryContext, DocumentPayload, Receipt

# Document ids start from a per-process offset so two sessions writing to one CMS never share 索引号/slugs.
_ids = itertools.count(1000 + (os.getpid() % 1000) * 1000)
ENTRY_PATH = ("行政执法", "行政处罚", "处罚决定")


def make_doc(tmp_path: Path, *, document_id: int | None = None, version: int = 1, title: str = "关于行政处罚决定的公告",
             attachments: int = 1, path: tuple[str, ...] = ENTRY_PATH) -> DocumentPayload:
    document_id = document_id or next(_ids)
    atts = []
    for i in range(attachments):
        data = f"%PDF-1.4\n决定书 {document_id} v{version} #{i}\n".encode()
        f = tmp_path / f"att-{document_id}-{version}-{i}.pdf"
        f.write_bytes(data)
        atts.append(AttachmentInfo(f"处罚决定书（{i + 1}）.pdf", "application/pdf", len(data),
                                   hashlib.sha256(data).hexdigest(), f))
    return DocumentPayload(
        document_id=document_id,
        version=version,
        index_no=f"11150785MB1234567X/2026-{document_id:05d}",
        title=title,
        body_html=f"<p>依据《行政处罚法》第{version}条，现予公告。</p>",
        doc_number=f"根司罚〔2026〕{document_id}号",
        formed_on=dt.date(2026, 3, 2),
        publisher="根河市司法局",
        entry_code="XZZF-01",
        entry_path=path,
        attachments=tuple(atts),
    )


def make_ctx(doc: DocumentPayload, action: Action = Action.publish, *, key: str | None = None,
             previous: Receipt | None = None) -> DeliveryContext:
    checkpoint: dict = {}
    ctx = DeliveryContext(
        delivery_id=doc.document_id * 10 + doc.version,
        idempotency_key=key or f"website:cms:{doc.document_id}:{doc.version}:{action.value}",
        channel="website",
        destination="门户网站",
        action=action,
        document=doc,
        previous_receipt=previous,
        checkpoint=checkpoint,
    )
    ctx.save_checkpoint = lambda c: (checkpoint.clear(), checkpoint.update(c))
    return ctx

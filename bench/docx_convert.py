"""Conversion time of a Word file to the canonical body: a generated 30-page 公文 (红头, 文号, title, ~30 pages of
numbered sections and body text at 三号 size, 10 distinct photo-like JPEGs, 5 tables with merged cells, 落款 and date).

Times ``convert_docx`` (container checks, mammoth, python-docx 公文 recognition, image checks, sanitising) and the
whole ``import_document`` (the same plus storing the 10 images in a temporary attachment store). Target: under 1 s.

    .venv/bin/python bench/docx_convert.py [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docx  # noqa: E402
from docx.enum.text import WD_ALIGN_PARAGRAPH  # noqa: E402
from docx.shared import Pt  # noqa: E402
from PIL import Image  # noqa: E402

from orchestrator.docimport.docx import convert_docx  # noqa: E402
from orchestrator.docimport.importer import import_document  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402

SENTENCE = "各单位要坚持依法行政，严格按照规定时限主动公开政府信息，做好政策解读和回应关切工作，确保公开内容准确完整。"


def _photo(i: int) -> bytes:
    """A photo-like JPEG (noise over a colour, 800×600): bytes to check, hash and store like a real picture's."""
    noise = Image.effect_noise((800, 600), 40 + i).convert("RGB")
    tint = Image.new("RGB", (800, 600), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    out = io.BytesIO()
    Image.blend(noise, tint, 0.5).save(out, "JPEG", quality=85)
    return out.getvalue()


def build(pages: int = 30, images: int = 10, tables: int = 5) -> bytes:
    d = docx.Document()
    for text, size in (("根河市司法局文件", 36), ("根司发〔2026〕5号", 16), ("关于印发法治政府建设实施方案的通知", 22)):
        p = d.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.add_run(text).font.size = Pt(size)
    d.add_paragraph("各司法所、局机关各股室：")
    # A 公文 page (A4, 三号 仿宋, 22 lines of 28 characters) holds ~600 characters: 6 paragraphs of ~100.
    sections = pages
    per_table = max(sections // tables, 1)
    per_image = max(sections // images, 1)
    for s in range(sections):
        d.add_heading(f"第{s + 1}部分 工作要求", level=2)
        for k in range(5):
            p = d.add_paragraph(style="List Number" if k == 0 else None)
            p.add_run(SENTENCE * 2).font.size = Pt(16)
        if s % per_table == 0 and s // per_table < tables:
            t = d.add_table(rows=10, cols=5)
            t.style = "Table Grid"
            for r in range(10):
                for c in range(5):
                    t.cell(r, c).text = f"第{r}行第{c}列"
            t.cell(1, 0).merge(t.cell(3, 0))
            t.cell(5, 1).merge(t.cell(5, 3))
        if s % per_image == 0 and s // per_image < images:
            d.add_paragraph().add_run().add_picture(io.BytesIO(_photo(s // per_image)))
    for text in ("根河市司法局", "2026年3月2日"):
        p = d.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.add_run(text)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    data = build()
    conv = convert_docx(data)
    chars = len(conv.body_html)
    print(f"document: {len(data) / 1024:.0f} KB, body {chars} characters of HTML, {len(conv.images)} images, "
          f"{conv.body_html.count('<table>')} tables; 文号 {conv.parts.doc_number}, 成文日期 {conv.parts.signed_on}")
    # Wall time, and this process's CPU time: on a shared, loaded machine the CPU time is what the conversion costs.
    times, cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        convert_docx(data)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(f"convert_docx:    wall median {statistics.median(times):.3f} s (max {max(times):.3f}), "
          f"CPU median {statistics.median(cpu):.3f} s ({args.runs} runs)")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(var_dir=Path(tmp))
        times, cpu = [], []
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            import_document(settings, "方案.docx", io.BytesIO(data))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    med, cpu_med = statistics.median(times), statistics.median(cpu)
    print(f"import_document: wall median {med:.3f} s (max {max(times):.3f}), CPU median {cpu_med:.3f} s "
          "(with storing the images)")
    print(f"target under 1 s: wall {'met' if med < 1.0 else 'NOT met'}, CPU {'met' if cpu_med < 1.0 else 'NOT met'}"
          f" (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()

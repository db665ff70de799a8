"""Import time for a generated 5,000-row catalog (target: under 2 s on one core).

Rows are generated in the seed's shape: numbered sections with merged (blank) cells below the first
row, full checkbox lists, and a run of rows that lost a column (so content alignment is exercised).
Baseline, measured in the same run: reading the file and splitting it into cells, the floor any importer pays.

    .venv/bin/python bench/catalog_import.py [--rows 5000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.catalog.importer import import_catalog  # noqa: E402

BOXES = ["政府网站", "政府公报", "两微一端", "发布会/听证会", "广播电视", "纸质传媒", "公开查阅点", "政务服务中心",
         "便民服务站", "入户/现场", "社区/企事业单位/公示栏（电子屏）", "精准推送", "其他"]
LIMITS = ["信息产生或变更之 日起20个工作 日 内公开", "即时公开", "与政策文件同步发布", "本级政府财政部门批复后20日内",
          "公告期后满一个月", "信息产生或变更之日起20个工作日内公开，保持长期公开"]


def generate(rows: int) -> str:
    out = ["某某市某某局主动公开目录", "",
           "\t".join(["序号", "公开事项", "", "", "公开内容 （要素）", "公开 时限", "公开 主体", "公开渠道和载体", "公开对象", "", "责任科室", "", ""]),
           "\t".join(["", "一级事 项", "二级事 项", "三级事 项", "", "", "", "", "全社会", "特定群体", "", "", ""])]
    section, n = 0, 0
    while n < rows:
        section += 1
        boxes = " ".join(("■" if (i + section) % 3 == 0 else "□") + b for i, b in enumerate(BOXES))
        for pos in range(10):
            if n >= rows:
                break
            content = f"第{section}项第{pos + 1}条 公开 内容 说明，包括 依据、 范围、 办理 流程 等信息"
            limit = LIMITS[(section + pos) % len(LIMITS)] if pos % 3 == 0 else ""
            if section % 4 == 0:  # a page that lost the 三级事项 column, as in the seed
                first = [str(section), f"一级{section}"] if pos == 0 else ["", ""]
                rest = [f"二级{pos}", content, limit, "某某市某某局" if pos == 0 else "", boxes if pos == 0 else "",
                        "√" if pos == 0 else "", "", "办公室" if pos == 0 else ""]
                out.append("\t".join(first + rest))
            else:
                first = [str(section), f"一级{section}"] if pos == 0 else ["", ""]
                rest = [f"二级{pos}", "", content, limit, "某某市某某局" if pos == 0 else "", boxes if pos == 0 else "",
                        "√" if pos == 0 else "", "", "法规 科 综合 办公室" if pos == 0 else "", "", ""]
                out.append("\t".join(first + rest))
            n += 1
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.txt"
        path.write_text(generate(args.rows), encoding="utf-8")
        size = path.stat().st_size

        def baseline() -> None:
            [ln.split("\t") for ln in path.read_text(encoding="utf-8").splitlines()]

        import_catalog(path, publisher="某某市某某局")  # warm-up: imports, regex compilation, channel map
        times, base = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            baseline()
            base.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cat = import_catalog(path, publisher="某某市某某局")
            times.append(time.perf_counter() - t0)
        best, b = min(times), min(base)
        assert len(cat.entries) == args.rows, len(cat.entries)
        print(f"rows: {args.rows}  file: {size / 1024 / 1024:.2f} MB  entries: {len(cat.entries)}  "
              f"flagged: {sum(1 for e in cat.entries if e.warnings)}")
        print(f"baseline (read + split cells): {b * 1000:.1f} ms")
        print(f"import (best of {args.repeat}): {best * 1000:.1f} ms  ({best / b:.0f}x baseline)  "
              f"target < 2000 ms: {'OK' if best < 2.0 else 'MISSED'}")


if __name__ == "__main__":
    main()

"""Small catalogs written by hand, in every supported form, for the importer tests."""

from __future__ import annotations

from pathlib import Path

HEADER1 = ["序号", "公开事项", "", "", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "公开对象", "", "责任科室"]
HEADER2 = ["", "一级事项", "二级事项", "三级事项", "", "", "", "", "全社会", "特定群体", ""]
PUB = "某某县民政局"
# Blank cells below a filled one are merged cells printed once.
ROWS = [
    ["1", "机构信息", "机构职能", "", "本机关职能和内设机构", "信息形成之日起10个工作日内", PUB, "■政府网站 □政府公报 ■政务服务中心", "√", "", "办公室"],
    ["", "", "领导信息", "", "领导姓名、分工", "", "", "", "", "", "人事股 财务股"],
    ["2", "救助信息", "低保", "", "低保标准", "即时公开", PUB, "■政府网站 ■村(居)公示栏", "", "√", "社会救助股"],
    ["", "", "", "", "低保对象名单", "公示期满后5个工作日内", "", "", "", "", ""],
    ["3", "其他信息", "", "", "其他需要公开的信息", "", "", "", "", "", ""],
]

# What every form must import to: code → (path, channels, offices, kind, days, inherited ⊇, warning substrings)
EXPECTED = {
    "01-01": ("机构信息/机构职能", ["website", "service_center"], ["办公室"], "working_days", 10, set(), []),
    "01-02": ("机构信息/领导信息", ["website", "service_center"], ["人事股", "财务股"], "working_days", 10,
              {"time_limit", "publisher", "channels", "audience"}, []),
    "02-01": ("救助信息/低保", ["website", "bulletin_board"], ["社会救助股"], "immediate", None, set(), []),
    "02-02": ("救助信息/低保", ["website", "bulletin_board"], ["社会救助股"], "after_event", 5,
              {"channels", "offices", "audience"}, []),
    "03-01": ("其他信息", [], [], "unknown", None, set(), ["公开时限为空", "公开渠道和载体为空", "责任科室为空"]),
}


def tsv(rows: list[list[str]]) -> str:
    return "\n".join("\t".join(r) for r in rows) + "\n"


def write_docx(path: Path, header: list[list[str]], rows: list[list[str]], merge_blanks: bool = True,
               nested_in_layout: bool = False) -> Path:
    """A Word table; blank cells under a value become real vertical merges (vMerge) within a section."""
    from docx import Document

    doc = Document()
    doc.add_paragraph(f"{PUB}主动公开目录")
    grid = header + rows
    if nested_in_layout:  # the catalog sits inside a one-cell layout table, as some templates do
        outer = doc.add_table(rows=1, cols=1)
        table = outer.cell(0, 0).add_table(len(grid), len(grid[0]))
    else:
        table = doc.add_table(len(grid), len(grid[0]))
    for r, values in enumerate(grid):
        for c, v in enumerate(values):
            table.cell(r, c).text = v
    if merge_blanks:
        first_data = len(header)
        for c in range(4, len(grid[0])):
            r = first_data
            while r < len(grid):
                end = r
                while end + 1 < len(grid) and not grid[end + 1][c] and not grid[end + 1][0] and grid[r][c]:
                    end += 1
                if end > r:
                    table.cell(r, c).merge(table.cell(end, c))
                r = end + 1
    doc.save(str(path))
    return path


def write_xlsx(path: Path, header: list[list[str]], rows: list[list[str]], merge_blanks: bool = True) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "主动公开目录"
    ws.append([f"{PUB}主动公开目录"])
    for values in header + rows:
        ws.append(values)
    off = 2  # title row, then 1-based
    ws.merge_cells(start_row=off, start_column=2, end_row=off, end_column=4)  # 公开事项 over its three levels
    ws.merge_cells(start_row=off, start_column=9, end_row=off, end_column=10)  # 公开对象 over 全社会/特定群体
    ws.merge_cells(start_row=off, start_column=1, end_row=off + 1, end_column=1)  # 序号 over both header rows
    if merge_blanks:
        grid = header + rows
        for c in range(4, len(grid[0])):
            r = len(header)
            while r < len(grid):
                end = r
                while end + 1 < len(grid) and not grid[end + 1][c] and not grid[end + 1][0] and grid[r][c]:
                    end += 1
                if end > r:
                    ws.merge_cells(start_row=off + r, start_column=c + 1, end_row=off + end, end_column=c + 1)
                r = end + 1
    wb.save(path)
    return path

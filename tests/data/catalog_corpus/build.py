"""Build the catalog development corpus and its answer keys.

    PYTHONPATH=. python tests/data/catalog_corpus/build.py

Every catalog below is written for this corpus: the rows are our own, modelled on the shapes of real 主动公开目录 /
基层政务公开标准目录 pages (see ``README.md`` here and ``catalog-shapes.md``). Each catalog is one logical grid,
rendered into the form and shape named in its file name, and one answer key (``<file>.key.yaml``) written by hand
next to the rows: what each row says, independently of what the importer makes of it.

Generated files are committed; rebuilding gives the same bytes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from render import (  # noqa: E402
    Grid,
    boxes,
    csv_text,
    html_page,
    html_table,
    text_a1_pipe,
    text_a2_spaces,
    text_a3_lines,
    text_a4_paragraphs,
    text_a5_bars,
    text_a6_padded,
    text_markdown,
    text_tsv,
    write_docx,
    write_pdf,
    write_xls,
    write_xlsx,
)

# ---------------------------------------------------------------- key helpers


def wd(n: int) -> dict:
    return {"kind": "working_days", "days": n, "from": "formed"}


def cal(n: int) -> dict:
    return {"kind": "calendar_days", "days": n, "from": "formed"}


IMM = {"kind": "immediate", "from": "formed"}
UNK = {"kind": "unknown"}


def rel(grace: int | None = None) -> dict:
    return {"kind": "with_related", "from": "related_document", **({"grace_days": grace} if grace else {})}


def ev(event: str, days: int | None = None, counting: str = "working_days", months: int | None = None) -> dict:
    """after_event; `event` "!formed" means: an event named by the row, not the formation of the information."""
    out = {"kind": "after_event", "from": event}
    if days is not None:
        out.update(days=days, counting=counting)
    if months is not None:
        out["months"] = months
    return out


@dataclass
class K:
    path: list[str]
    channels: list[str] = field(default_factory=list)
    time_limit: dict = field(default_factory=lambda: dict(UNK))
    offices: list[str] = field(default_factory=list)
    keep_public: bool = False
    warnings: list[str] = field(default_factory=list)  # tags: incomplete, review, unknown_channel
    pending: dict[str, str] = field(default_factory=dict)  # wording the channel map lacks → proposed code
    optional: list[str] = field(default_factory=list)  # channels a header note makes optional (口 = optional)
    clear: bool = True
    also: list[dict] = field(default_factory=list)  # other time-limit rules that equally say what the row says
    catalog: int = 0  # which catalog of the file (several catalogs on one page), 0-based
    id: str | None = None  # a distinctive piece of the row's content (defaults to its start)
    note: str = ""


@dataclass
class Cat:
    name: str
    shapes: list[str]
    publisher: str | None
    grid: Grid
    keys: list[K | None]  # one per grid data row; None: the grid row is no entry of its own (a continuation)
    content_col: int
    write: callable
    import_args: dict = field(default_factory=dict)
    extra: list[K] = field(default_factory=list)  # rows keyed unclear that are not rows of the grid (another catalog...)
    outcome: str = "import"  # "import" | "error" (the importer should refuse with a useful message)
    publishers: list[str] | None = None  # one per catalog when the file holds several
    note: str = ""


def header2(cols: list[tuple[str, str | None]]) -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """Two header rows from (top label, sub label) pairs; tops without a sub span both rows."""
    top, sub, merges = [], [], []
    i = 0
    while i < len(cols):
        label, s = cols[i]
        if s is None:
            top.append(label)
            sub.append("")
            merges.append((0, i, 2, 1))
            i += 1
            continue
        j = i
        while j < len(cols) and cols[j][0] == label and cols[j][1] is not None:
            j += 1
        for k in range(i, j):
            top.append(label if k == i else "")
            sub.append(cols[k][1])
        if j - i > 1:
            merges.append((0, i, 1, j - i))
        i = j
    return [top, sub], merges


def compact(s: str) -> str:
    return "".join(s.split())


# ---------------------------------------------------------------- the catalogs

CATALOGS: list[Cat] = []


def add(cat: Cat) -> None:
    assert len(cat.keys) == len(cat.grid.rows), (cat.name, len(cat.keys), len(cat.grid.rows))
    for row in cat.grid.rows:
        assert len(row) == cat.grid.width, (cat.name, row)
    CATALOGS.append(cat)


STD_COLS = [
    ("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开依据", None),
    ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体"),
    ("公开方式", "主动"), ("公开方式", "依申请"), ("公开层级", "县级"), ("公开层级", "乡级"),
]

# 01 — A1 pipe text where a line is not a row; page chrome; two-row header; ■/□; the 及时公开 parser bug.
P = "青石县民政局"
T20 = "自该政府信息形成或者变更之日起20个工作日内及时公开"
h, m = header2(STD_COLS)
h[0][5] = "公开\n时限"
h[0][7] = "公开渠道\n和载体"
add(Cat(
    "01_shehuijiuzhu_a1_pipe.txt", ["A1", "B1", "C1", "C2", "E1", "F"], P,
    Grid(h, [
        ["1", "政策法规", "法律法规和政策文件", "社会救助相关法律法规、规章和\n规范性文件", "《社会救助暂行办法》", T20, P,
         boxes(["政府网站", "两微一端"]), "√", "", "√", "", "√", "√"],
        ["2", "最低生活保障", "办理流程", "申请条件、申请材料、办理\n程序、救助标准", "《社会救助暂行办法》", T20, P,
         boxes(["政府网站", "社区/企事业单位/村公示栏（电子屏）"]), "√", "", "√", "", "√", "√"],
        ["", "", "审核审批结果", "低保对象姓名、保障人数、\n保障金额（隐去敏感信息）", "", "审核通过后5个工作日内", P,
         boxes(["社区/企事业单位/村公示栏（电子屏）"]), "", "√", "√", "", "√", "√"],
        ["3", "特困人员救助供养", "审核审批结果", "特困人员姓名、供养方式", "《社会救助暂行办法》", T20, P,
         boxes(["政府网站", "社区/企事业单位/村公示栏（电子屏）"]), "", "√", "√", "", "√", "√"],
        ["4", "临时救助", "救助对象", "临时救助对象姓名、救助事由、救助金额", "《社会救助暂行办法》",
         "每季度结束后10个工作日内", P, boxes(["政府网站"]), "", "√", "√", "", "√", ""],
        ["5", "监督管理", "投诉举报", "投诉举报电话、", "", "", "", "", "", "", "", "", "", ""],
    ], header_merges=m, merge_cols=(1,),
        before=["无障碍浏览 | 长者模式", "首页 > 政务公开 > 基层政务公开 > 社会救助", "青石县民政局社会救助领域基层政务公开标准目录",
                "发布时间：2025-03-12 来源：县民政局 浏览次数：", ""],
        after=["", "【打印】 【关闭】", "主办单位：青石县人民政府办公室"], cut=True),
    [
        K(["政策法规", "法律法规和政策文件"], ["website", "wechat"], wd(20)),
        K(["最低生活保障", "办理流程"], ["website", "bulletin_board"], wd(20)),
        K(["最低生活保障", "审核审批结果"], ["bulletin_board"], ev("review", 5)),
        K(["特困人员救助供养", "审核审批结果"], ["website", "bulletin_board"], wd(20)),
        K(["临时救助", "救助对象"], ["website"], UNK, also=[ev("!formed", 10)], warnings=["review"],
          note="每季度结束后: periodic; typing it as 10 working days after the quarter's end is as faithful"),
        K(["监督管理", "投诉举报"], [], UNK, warnings=["incomplete"], clear=False, note="last row cut mid-cell"),
    ], 3, lambda g, p: p.write_text(text_a1_pipe(g, break_after=(4,)), encoding="utf-8"),
))

# 02 — A2 single-space text; words broken by the export; two-row header spliced by name.
P = "青石县卫生健康局"
cols = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None),
        ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols)
h[0][4] = "公开 时限"
add(Cat(
    "02_weisheng_a2_spaces.txt", ["A2", "C1", "C2", "D3"], P,
    Grid(h, [
        ["1", "公共卫生\n服务", "基本公共卫\n生服务项目", "服务项目名称、服务对象、服务内容\n和服务机构", "信息形成之日起20个工作日内", P,
         boxes(["政府网站", "两微一端"], ["政府网站", "两微一端", "公开查阅点"]), "√", ""],
        ["2", "计划免疫", "预防接种\n门诊信息", "接种门诊名称、地址、服务时间、联系电话", "信息形成之日起10个工作日内", P,
         boxes(["政府网站", "公开查阅点"], ["政府网站", "两微一端", "公开查阅点"]), "√", ""],
        ["3", "传染病防控", "疫情信息", "法定传染病疫情\n信息", "即时公开", P,
         boxes(["政府网站", "两微一端"], ["政府网站", "两微一端", "公开查阅点"]), "√", ""],
        ["4", "医疗服务", "家庭医生签约", "签约服务内容、收费标准、团队名单", "信息形成之日起20个工作日内", P,
         boxes(["公开查阅点"], ["政府网站", "两微一端", "公开查阅点"]), "", "√"],
        ["5", "健康教育", "健康知识", "健康素养基本知识与技能宣传\n材料", "实时公开", P,
         boxes(["政府网站", "两微一端", "公开查阅点"], ["政府网站", "两微一端", "公开查阅点"]), "√", ""],
    ], header_merges=m, before=["青石县卫生健康局基层政务公开标准目录", ""]),
    [
        K(["公共卫生服务", "基本公共卫生服务项目"], ["website", "wechat"], wd(20)),
        K(["计划免疫", "预防接种门诊信息"], ["website", "reading_room"], wd(10)),
        K(["传染病防控", "疫情信息"], ["website", "wechat"], IMM),
        K(["医疗服务", "家庭医生签约"], ["reading_room"], wd(20)),
        K(["健康教育", "健康知识"], ["website", "wechat", "reading_room"], IMM),
    ], 3, lambda g, p: p.write_text(text_a2_spaces(g), encoding="utf-8"),
))

# 03 — A3 one cell per line (PDF copy): merged cells once, cells wrapping mid-word, last row cut.
P = "青石县教育体育局"
cols = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开依据", None),
        ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None), ("责任股室", None)]
h, m = header2(cols)
CH3 = ["政府网站", "两微一端", "公开查阅点", "社区/企事业单位/村公示栏（电子屏）"]
add(Cat(
    "03_jiaoyu_a3_lines.txt", ["A3", "D1", "D3", "D5", "C4"], P,
    Grid(h, [
        ["1", "招生入学", "招生政策", "义务教育阶段招生入学政策、划片范围、报名\n时间和方式", "《中华人民共和国义务教育法》",
         "信息形成之日起10个工作日内", P, boxes(["政府网站", "两微一端"], CH3), "基础教育股"],
        ["", "", "招生结果", "各校录取名单及\n咨询电话", "", "录取工作结束后5个工作日内", "", boxes(["政府网站"], CH3), ""],
        ["2", "学生资助", "资助政策", "学生资助项目、资助标准、申请条件", "《学生资助资金管理办法》", "信息形成之日起20个工作日内", P,
         boxes(["政府网站", "公开查阅点"], CH3), "计划财务股"],
        ["", "", "资助名单", "受助学生名单（隐去身份证号等\n个人信息）", "", "公示期满后10个工作日内", "",
         boxes(["社区/企事业单位/村公示栏（电子屏）"], CH3), ""],
        ["3", "教师管理", "教师招聘", "招聘公告、报名人数、拟聘用人员名单", "《事业单位公开招聘人员暂行规定》", "信息形成之日起5个工作日内", P,
         boxes(["政府网站", "两微一端"], CH3), "人事股"],
        ["4", "校园安全", "安全管理", "校园安全管理制度、", "", "", "", "", ""],
    ], header_merges=m, merge_cols=(6, 8), before=["青石县教育体育局主动公开目录"], cut=True),
    [
        K(["招生入学", "招生政策"], ["website", "wechat"], wd(10), ["基础教育股"]),
        K(["招生入学", "招生结果"], ["website"], ev("!formed", 5), ["基础教育股"],
          note="录取工作结束后: an event the row names"),
        K(["学生资助", "资助政策"], ["website", "reading_room"], wd(20), ["计划财务股"]),
        K(["学生资助", "资助名单"], ["bulletin_board"], ev("comment_period_end", 10), ["计划财务股"]),
        K(["教师管理", "教师招聘"], ["website", "wechat"], wd(5), ["人事股"]),
        K(["校园安全", "安全管理"], [], UNK, [], warnings=["incomplete"], clear=False, note="last row cut"),
    ], 3, lambda g, p: p.write_text(text_a3_lines(g), encoding="utf-8"),
))

# 04 — A4 one paragraph per cell with blank lines (CMS); options one per paragraph; numbered content; chrome.
P = "青石县乡村振兴局"
cols = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开依据", None),
        ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols)
CH4 = ["政府网站", "两微一端", "入户/现场", "社区/企事业单位/村公示栏（电子屏）", "其他"]
add(Cat(
    "04_fupin_a4_paragraphs.txt", ["A4", "B1", "D4", "E1"], P,
    Grid(h, [
        ["1", "政策文件", "衔接资金政策", "1.巩固拓展脱贫攻坚成果同乡村振兴有效衔接资金管理办法\n2.资金分配方案",
         "《中央财政衔接推进乡村振兴补助资金管理办法》", "信息形成之日起20个工作日内", P, boxes(["政府网站", "两微一端"], CH4), "√", ""],
        ["2", "项目管理", "项目库建设", "1.项目库入库项目名称\n2.建设地点、建设内容\n3.资金规模", "",
         "项目入库审批后10个工作日内", P, boxes(["政府网站", "社区/企事业单位/村公示栏（电子屏）"], CH4), "√", ""],
        ["", "", "项目实施", "项目实施单位、实施进度、绩效目标", "", "信息形成之日起20个工作日内", P,
         boxes(["社区/企事业单位/村公示栏（电子屏）"], CH4), "√", ""],
        ["3", "帮扶政策", "小额信贷", "脱贫人口小额信贷政策、申请条件、贴息标准", "", "即时公开", P,
         boxes(["政府网站", "入户/现场"], CH4), "", "√"],
        ["4", "监测帮扶", "防止返贫监测", "监测对象识别标准、认定程序和帮扶措施", "", "信息形成之日起15个工作日内", P,
         boxes(["政府网站", "入户/现场", "社区/企事业单位/村公示栏（电子屏）"], CH4), "", "√"],
    ], header_merges=m),
    [
        K(["政策文件", "衔接资金政策"], ["website", "wechat"], wd(20)),
        K(["项目管理", "项目库建设"], ["website", "bulletin_board"], ev("approval", 10)),
        K(["项目管理", "项目实施"], ["bulletin_board"], wd(20)),
        K(["帮扶政策", "小额信贷"], ["website", "onsite"], IMM),
        K(["监测帮扶", "防止返贫监测"], ["website", "onsite", "bulletin_board"], wd(15)),
    ], 3, None,
))
CATALOGS[-1].grid.before = ["跳转到主要内容区域", "当前位置：首页 > 政府信息公开 > 基层政务公开", "索引号：11331025MB0000000X/2024-00123",
                            "发布机构：青石县乡村振兴局", "发布日期：2024-06-18", "青石县乡村振兴局扶贫领域基层政务公开标准目录",
                            "字号：大 中 小"]
CATALOGS[-1].grid.after = ["", "打印 关闭", "扫一扫在手机打开当前页"]
CATALOGS[-1].write = lambda g, p: p.write_text(text_a4_paragraphs(g, option_cols=(7,)), encoding="utf-8")

# 05 — A5 cells ending " |", lone "|" empty cell, header repeated before each row; numbered channel list.
P = "青石县生态环境分局"
cols = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
        ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols)
add(Cat(
    "05_huanjing_a5_bars.txt", ["A5", "B3", "E3", "E4"], P,
    Grid(h, [
        ["1", "环境影响评价", "环评审批", "建设项目环评文件受理情况、拟审批公示、审批决定", "受理后5个工作日内", P,
         "1.政府网站 2.两微一端", "√", ""],
        ["2", "排污许可", "许可证核发", "排污许可证核发、变更、注销情况", "许可决定作出之日起7个工作日内", P, "1.政府网站", "√", ""],
        ["3", "环境监管", "行政处罚", "行政处罚决定书", "作出处罚决定之日起7个工作日内", P, "1.政府网站 2.信用中国网站", "√", ""],
        ["4", "环境质量", "空气质量", "空气质量状况月报", "实时公开", P, "1.政府网站 2.两微一端", "√", ""],
        ["5", "突发环境事件", "应急处置", "突发环境事件应急处置情况", "", P, "", "√", ""],
    ], header_merges=m, before=["青石县生态环境分局生态环境领域基层政务公开标准目录"]),
    [
        K(["环境影响评价", "环评审批"], ["website", "wechat"], ev("!formed", 5), pending={"1.政府网站": "website", "2.两微一端": "wechat"},
          note="受理后: counts from acceptance of the application"),
        K(["排污许可", "许可证核发"], ["website"], ev("!formed", 7), also=[wd(7)], pending={"1.政府网站": "website"}),
        K(["环境监管", "行政处罚"], ["website", "other"], ev("!formed", 7), also=[wd(7)], warnings=["unknown_channel"],
          pending={"1.政府网站": "website", "2.信用中国网站": "other"}),
        K(["环境质量", "空气质量"], ["website", "wechat"], IMM, pending={"1.政府网站": "website", "2.两微一端": "wechat"}),
        K(["突发环境事件", "应急处置"], [], UNK, warnings=["review"], note="no time limit, no channel: nothing to type"),
    ], 3, lambda g, p: p.write_text(text_a5_bars(g), encoding="utf-8"),
))

# 06 — A6 padded pipe with non-breaking spaces.
P = "青石县某某街道办事处"
cols = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
        ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols)
CH6 = ["政府网站", "两微一端", "便民服务站", "社区/企事业单位/村公示栏（电子屏）"]
add(Cat(
    "06_shehuijiuzhu_a6_padded.txt", ["A6", "D3"], P,
    Grid(h, [
        ["1", "最低生活保障", "低保申请", "申请条件、所需材料、办理流程", "信息形成之日起20个工作日内", P,
         boxes(["政府网站", "便民服务站"], CH6), "√", ""],
        ["2", "最低生活保障", "低保对象公示", "拟纳入低保对象的姓名、家庭人口、拟保障金额", "公示期7天", P,
         boxes(["社区/企事业单位/村公示栏（电子屏）"], CH6), "", "√"],
        ["3", "临时救助", "救助政策", "临时救助标准、申请程序", "信息形成之日起20个工作日内", P, boxes(["政府网站", "两微一端"], CH6), "√", ""],
        ["4", "残疾人两项补贴", "补贴发放", "补贴对象、发放标准、发放金额", "每月10日前", P,
         boxes(["社区/企事业单位/村公示栏（电子屏）"], CH6), "", "√"],
    ], header_merges=m, before=["某某街道社会救助领域基层政务公开标准目录", "（公开主体：青石县某某街道办事处）"]),
    [
        K(["最低生活保障", "低保申请"], ["website", "service_station"], wd(20)),
        K(["最低生活保障", "低保对象公示"], ["bulletin_board"], UNK, warnings=["review"],
          note="公示期7天 is a posting period, not a publication deadline"),
        K(["临时救助", "救助政策"], ["website", "wechat"], wd(20)),
        K(["残疾人两项补贴", "补贴发放"], ["bulletin_board"], UNK, warnings=["review"], note="fixed monthly date"),
    ], 3, lambda g, p: p.write_text(text_a6_padded(g), encoding="utf-8"),
    import_args={"publisher": P}, note="the title names no full agency; the clerk passes --publisher",
))

# 07 — A7 PDF layout text: cells interleaved, checkbox options in two columns mixed with content rows, codes.
A7_TEXT = """青石县某某街道卫生健康领域基层政务公开标准目录
公开对象 公开方式 公开层级
序号 公开事项 公开内容 公开依据 公开时限 公开主体 公开渠道和载体
一级事项 二级事项 全社会 特定 主动 依申请 县级 乡级
■政府网站 □政府公报
0505 1 公共卫生 健康教育 健康素养宣传 《基本公共卫生 信息形成之日起 某某街道 √ √ √
□两微一端 □发布会/听证会
服务 活动安排 服务规范》 20个工作日内 办事处
□广播电视 口纸质媒体 ■社区/企事业单位/
0506 2 计划生育 奖励扶助 扶助对象 《计划生育家庭 每年 某某街道 √ √
村公示栏（电子屏） □精准推送
名单、标准 奖励扶助制度》 办事处
口其他 □入户/现场
"""


def _write_a7(g, p):
    p.write_text(A7_TEXT, encoding="utf-8")


add(Cat(
    "07_weisheng_a7_pdflayout.txt", ["A7", "E2"], None,
    Grid([["序号"]], []), [], 0, _write_a7, outcome="error",
    note="cells of several columns interleaved on one line: the rows cannot be rebuilt; the importer should refuse "
         "with a message that names what to do (import the original Word/Excel/PDF or the web page), or flag every "
         "entry it makes; any entry it makes counts as invented unless it matches a row below",
))
CATALOGS[-1].extra = [
    K(["公共卫生", "健康教育"], ["website"], wd(20), clear=False, id="健康素养宣传"),
    K(["计划生育", "奖励扶助"], ["bulletin_board"], UNK, clear=False, id="扶助对象"),
]

# 08 — B2 title inside a pipe row, numbered title, publisher only in 公开主体; header printed twice; 其他法律服务网; 注: note.
P = "青石县司法局"
NOTE8 = "注：法律服务网即中国法律服务网及省级法律服务网"
CH8 = ["政府网站", "政府公报", "两微一端", "其他法律服务网"]
add(Cat(
    "08_gonggongfalv_b2_title_in_pipe.txt", ["B2", "C3", "E4", "A1"], P,
    Grid([["序号", "公开事项", "公开事项", "公开内容", "公开依据", "公开时限", "公开主体", "公开渠道和载体", "公开渠道和载体", "公开对象"],
          ["", "一级事项", "二级事项", "", "", "", "", "", "", ""]], [
        ["1", "法律援助", "法律援助服务", "法律援助的申请条件、办理程序、所需材料", "《中华人民共和国法律援助法》",
         "信息形成或变更之日起20个工作日内", P, boxes(["政府网站", "其他法律服务网"], CH8), "", "全社会"],
        ["2", "人民调解", "人民调解组织", "人民调解委员会名称、地址、联系方式", "《中华人民共和国人民调解法》", "同上", P,
         boxes(["政府网站", "其他法律服务网"], CH8), NOTE8, "全社会"],
        ["3", "公证服务", "公证机构", "公证机构名称、执业公证员名单", "《中华人民共和国公证法》", "信息形成或变更之日起20个工作日内", P,
         boxes(["政府网站"], CH8), "", "全社会"],
        ["4", "法治宣传", "普法活动", "普法宣传活动安排及开展情况", "", "活动结束后7个工作日内", P,
         boxes(["政府网站", "两微一端"], CH8), "", "全社会"],
        ["5", "基层法律服务", "法律服务所", "基层法律服务所名称、地址、服务范围", "", "信息形成或变更之日起20个工作日内", P,
         boxes(["政府网站", "其他法律服务网"], CH8), "", "全社会"],
    ], before=["（十三）公共法律服务领域基层政务公开标准目录（试行）"]),
    [
        K(["法律援助", "法律援助服务"], ["website", "other"], wd(20), pending={"其他法律服务网": "other"}),
        K(["人民调解", "人民调解组织"], ["website", "other"], wd(20), pending={"其他法律服务网": "other"},
          note="同上 refers to the row above even across the 序号; the 注 is not a channel"),
        K(["公证服务", "公证机构"], ["website"], wd(20)),
        K(["法治宣传", "普法活动"], ["website", "wechat"], ev("!formed", 7)),
        K(["基层法律服务", "法律服务所"], ["website", "other"], wd(20), pending={"其他法律服务网": "other"}),
    ], 3, None,
))


def _write_b2(g, p):
    w = g.width
    lines = ["首页 > 信息公开 > 基层政务公开", "|" + g.before[0] + "|" * w]
    for n, row in enumerate(g.header + g.rows):
        lines.append("|" + "|".join(row) + "|" + ("||" if n % 2 else ""))
    lines += ["", "打印本页 关闭窗口"]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")


CATALOGS[-1].write = _write_b2

# 09 — B3 two catalogs on one page, each with its own title and header; the first is the one to take.
P = "青石县发展和改革局"
cols9 = ["序号", "一级事项", "二级事项", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "公开对象"]
CH9 = ["政府网站", "两微一端", "投资项目在线审批监管平台", "社区/企事业单位/村公示栏（电子屏）"]
G9a = Grid([cols9], [
    ["1", "审批服务", "申报指南", "项目申报材料清单、办理流程、办理时限", "信息形成之日起20个工作日内", P,
     boxes(["政府网站", "投资项目在线审批监管平台"], CH9), "全社会"],
    ["2", "批准结果", "审批结果", "项目名称、审批文号、审批时间", "审批后7个工作日内", P, boxes(["政府网站", "投资项目在线审批监管平台"], CH9), "全社会"],
    ["3", "招标投标", "招标公告", "招标项目名称、招标范围、投标人资格要求", "信息形成之日起5个工作日内", P, boxes(["政府网站"], CH9), "全社会"],
    ["4", "施工管理", "质量安全监督", "质量安全监督检查结果", "检查结束后10个工作日内", P, boxes(["政府网站", "两微一端"], CH9), "全社会"],
])
G9b = Grid([cols9], [
    ["1", "价格管理", "收费标准", "行政事业性收费项目和标准", "信息形成之日起20个工作日内", P, boxes(["政府网站"], CH9), "全社会"],
    ["2", "粮食储备", "储备计划", "地方粮食储备规模和布局", "信息形成之日起20个工作日内", P, boxes(["政府网站"], CH9), "全社会"],
])
add(Cat(
    "09_zhongdajianshe_b3_two_catalogs.txt", ["B3", "E4"], P, G9a,
    [
        K(["审批服务", "申报指南"], ["website", "other"], wd(20), pending={"投资项目在线审批监管平台": "other"}),
        K(["批准结果", "审批结果"], ["website", "other"], ev("approval", 7), pending={"投资项目在线审批监管平台": "other"}),
        K(["招标投标", "招标公告"], ["website"], wd(5)),
        K(["施工管理", "质量安全监督"], ["website", "wechat"], ev("!formed", 10)),
    ], 3, None,
    publishers=[P, P], note="two catalogs on the page: rows of the second belong to the second catalog",
))
CATALOGS[-1].extra = [
    K(["价格管理", "收费标准"], ["website"], wd(20), catalog=1, id="行政事业性收费项目和标准"),
    K(["粮食储备", "储备计划"], ["website"], wd(20), catalog=1, id="地方粮食储备规模和布局"),
]




def _write_b3(g, p):
    text = ("当前位置：首页 > 政务公开 > 基层政务公开\n\n青石县发展和改革局重大建设项目领域基层政务公开标准目录\n\n" + text_markdown(G9a)
            + "\n\n青石县发展和改革局价格和粮食储备领域基层政务公开标准目录\n\n" + text_markdown(G9b) + "\n【打印】【关闭】\n")
    p.write_text(text, encoding="utf-8")


CATALOGS[-1].write = _write_b3

# 10 — tab text with a header split across three grid rows (公开/时限), 过程 column, 特定群众,
# a checkbox list continued over grid rows whose other cells are empty; 分配结果确定后.
P = "青石县住房和城乡建设局"
H10 = [
    ["序号", "公开事项", "", "公开内容", "公开", "公开", "公开渠道", "过程", "公开对象", ""],
    ["", "一级", "二级", "", "时限", "主体", "和载体", "", "全 社 会", "特定群众"],
    ["", "事项", "事项", "", "", "", "", "", "", ""],
]
CH10a = ["政府网站", "政府公报", "两微一端", "广播电视"]
CH10b = ["入户/现场", "社区/企事业单位/村公示栏（电子屏）", "其他"]
add(Cat(
    "10_weifang_c2_split_header.tsv", ["C1", "C2", "C4", "E1", "F"], P,
    Grid(H10, [
        ["1", "政策文件", "危房改造政策", "补助对象、补助标准、申请程序", "信息形成之日起20个工作日内", P, boxes(["政府网站", "政府公报"], CH10a), "决策", "√", ""],
        ["", "", "", "", "", "", boxes(["社区/企事业单位/村公示栏（电子屏）"], CH10b), "", "", ""],
        ["2", "资金分配", "补助资金分配", "年度补助资金分配结果", "分配结果确定后20个工作日内", P, boxes(["政府网站"], CH10a), "结果", "√", ""],
        ["", "", "", "", "", "", boxes([], CH10b), "", "", ""],
        ["3", "对象认定", "改造对象名单", "农户申请、村级评议、乡镇审核、县级审批结果", "审批后5个工作日内", P, boxes([], CH10a), "结果", "", "√"],
        ["", "", "", "", "", "", boxes(["入户/现场", "社区/企事业单位/村公示栏（电子屏）"], CH10b), "", "", ""],
        ["4", "质量安全", "竣工验收", "竣工验收情况、验收合格农户名单", "验收结束后10个工作日内", P, boxes(["政府网站"], CH10a), "管理", "", "√"],
        ["", "", "", "", "", "", boxes(["社区/企事业单位/村公示栏（电子屏）"], CH10b), "", "", ""],
    ], before=["青石县住房和城乡建设局农村危房改造领域基层政务公开标准目录"]),
    [
        K(["政策文件", "危房改造政策"], ["website", "gazette", "bulletin_board"], wd(20)), None,
        K(["资金分配", "补助资金分配"], ["website"], ev("!formed", 20), note="分配结果确定后: the event must not be lost"), None,
        K(["对象认定", "改造对象名单"], ["onsite", "bulletin_board"], ev("approval", 5)), None,
        K(["质量安全", "竣工验收"], ["website", "bulletin_board"], ev("!formed", 10)), None,
    ], 3, lambda g, p: p.write_text(text_tsv(g), encoding="utf-8"),
))

# 11 — xlsx with columns to keep, not mistake (事项类别, 条款内容, 依据效力位阶, 对应职责), 责任部门, plain channel names.
P = "青石县人民政府办公室"
H11 = [["序号", "事项类别", "公开事项", "条款内容", "公开内容", "公开依据", "依据效力位阶", "公开时限", "公开渠道", "对应职责", "责任部门"]]
TR = "信息形成或变更之日起20个工作日内"
add(Cat(
    "11_zhengfuban_c4_extra_columns.xlsx", ["C4", "C5", "D1", "E3"], P,
    Grid(H11, [
        ["1", "机构信息", "机构职能", "第二十条第（一）项", "机构职能、内设机构、办公地址、联系电话", "《中华人民共和国政府信息公开条例》", "行政法规", TR,
         "政府网站", "综合协调", "秘书科"],
        ["2", "", "负责人信息", "第二十条第（一）项", "县政府领导姓名、职务、分工", "", "", TR, "门户网站、", "综合协调", "秘书科"],
        ["3", "政策文件", "规范性文件", "第二十条第（一）项", "县政府及县政府办公室制发的规范性文件", "《中华人民共和国政府信息公开条例》", "行政法规",
         "文件印发之日起20个工作日内", "政府网站、政府公报", "文电管理", "文电科"],
        ["4", "", "政策解读", "第二十条第（一）项", "政策解读材料", "", "", "与政策文件同步发布", "政府网站、两微一端", "政策研究", "政策研究室"],
        ["5", "财政信息", "部门预决算", "第二十条第（四）项", "部门预算、决算及说明", "《中华人民共和国预算法》", "法律", "批复后20日内", "政府网站",
         "财务管理", "财务科"],
    ], merge_cols=(1, 5, 6), before=["青石县人民政府办公室主动公开事项目录"]),
    [
        K(["机构职能"], ["website"], wd(20), ["秘书科"]),
        K(["负责人信息"], ["website"], wd(20), ["秘书科"]),
        K(["规范性文件"], ["website", "gazette"], wd(20), ["文电科"], also=[ev("!formed", 20)], note="印发 is when the document is formed"),
        K(["政策解读"], ["website", "wechat"], rel(), ["政策研究室"]),
        K(["部门预决算"], ["website"], ev("approval", 20, "calendar_days"), ["财务科"]),
    ], 4, lambda g, p: write_xlsx(p, g, "主动公开目录"),
    note="事项类别 is a category column, not a level of the item path",
))

# 12 — docx: numbered items 1./1.1, 事项类型, header cut to 公开, rows missing different cells, 永久公开, 同上, conditional.
P = "青石县某某镇人民政府"
H12 = [["序号", "事项类型", "公开事项", "公开内容", "公开依据", "公开", "公开主体", "公开渠道和载体", "公开对象"]]
CH12 = ["政府网站", "两微一端", "社区/企事业单位/村公示栏（电子屏）"]
add(Cat(
    "12_gonggongwenhua_c5_numbered.docx", ["C3", "C5", "D1", "F"], P,
    Grid(H12, [
        ["1", "", "1.公共文化服务设施", "", "", "", "", "", ""],
        ["", "公共服务", "1.1场馆开放", "综合文化站、农家书屋开放时间和免费服务项目", "《中华人民共和国公共文化服务保障法》", "信息形成之日起10个工作日内",
         P, boxes(["政府网站", "社区/企事业单位/村公示栏（电子屏）"], CH12), "全社会"],
        ["", "", "1.2设施名录", "村（社区）综合性文化服务中心名录", "", "永久公开", "", "", ""],
        ["2", "", "2.文化活动", "", "", "", "", "", ""],
        ["", "公共服务", "2.1活动预告", "群众文化活动时间、地点、内容", "《中华人民共和国公共文化服务保障法》", "信息形成之日起5个工作日内", P,
         boxes(["政府网站", "两微一端"], CH12), "全社会"],
        ["", "", "2.2活动成果", "文化活动开展情况及图片", "", "同上", "", "", ""],
        ["3", "", "3.行政执法", "", "", "", "", "", ""],
        ["", "执法监督", "3.1行政处罚", "文化市场行政处罚决定", "《中华人民共和国行政处罚法》",
         "执法决定信息自作出决定之日起7个工作日内公开；其他信息20个工作日内公开", P, boxes(["政府网站"], CH12), "全社会"],
        ["", "", "3.2投诉举报", "举报电话、受理范围和处理程序", "", "信息形成之日起20个工作日内", "", "", ""],
    ], merge_cols=(1, 4, 6, 7, 8), before=["青石县某某镇公共文化服务领域基层政务公开标准目录"]),
    [
        None,
        K(["公共文化服务设施", "场馆开放"], ["website", "bulletin_board"], wd(10)),
        K(["公共文化服务设施", "设施名录"], ["website", "bulletin_board"], UNK, keep_public=True, warnings=["review"],
          note="永久公开 is keep-public, not a deadline"),
        None,
        K(["文化活动", "活动预告"], ["website", "wechat"], wd(5)),
        K(["文化活动", "活动成果"], ["website", "wechat"], wd(5), note="同上"),
        None,
        K(["行政执法", "行政处罚"], ["website"], UNK, warnings=["review"], note="conditional limit: two rules, a person chooses"),
        K(["行政执法", "投诉举报"], ["website"], wd(20)),
    ], 3, lambda g, p: write_docx(p, g),
    note="the 公开 header is the time-limit column cut short; number-only heading rows are not entries",
))

# 13 — saved HTML page: rowspan/colspan header and data, 一级目录 above three item levels, <input type="checkbox">,
# 主动/依申请 and 县级/乡级 ticks.
P = "青石县自然资源局"
cols13 = [("序号", None), ("一级目录", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开事项", "三级事项"),
          ("公开内容（要素）", None), ("公开依据", None), ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None),
          ("公开方式", "主动"), ("公开方式", "依申请"), ("公开层级", "县级"), ("公开层级", "乡级")]
h, m = header2(cols13)
CH13 = ["政府网站", "政府公报", "两微一端", "公开查阅点", "社区/企事业单位/村公示栏（电子屏）"]
add(Cat(
    "13_chengxiangguihua_html_rowspan.html", ["C1", "C4", "C5", "D1", "E1"], P,
    Grid(h, [
        ["1", "城乡规划", "规划编制", "国土空间总体规划", "规划草案", "规划草案、公示时间、意见反馈渠道", "《中华人民共和国城乡规划法》", "草案形成后即时公开",
         P, "政府网站|两微一端|公开查阅点", "√", "", "√", ""],
        ["", "", "", "", "批准后规划", "批准后的总体规划文本、图件", "", "批准之日起20个工作日内", "", "政府网站|政府公报", "√", "", "√", ""],
        ["2", "", "规划许可", "建设用地规划许可", "许可结果", "许可证号、项目名称、用地位置、用地面积", "《中华人民共和国城乡规划法》",
         "信息形成之日起7个工作日内", "", "政府网站", "√", "", "√", ""],
        ["", "", "", "建设工程规划许可", "许可结果", "工程名称、建设位置、建设规模", "", "信息形成之日起7个工作日内", "", "政府网站", "√", "", "√", ""],
        ["3", "乡村建设", "村庄规划", "村庄规划成果", "", "村庄规划图、规划说明书", "《中华人民共和国城乡规划法》", "批准后20个工作日内", "",
         "政府网站|社区/企事业单位/村公示栏（电子屏）", "√", "", "", "√"],
        ["", "", "规划监督", "违法建设查处", "", "违法建设查处结果", "", "信息形成之日起20个工作日内", "", "社区/企事业单位/村公示栏（电子屏）",
         "√", "", "", "√"],
    ], header_merges=m, merge_cols=(0, 1, 2, 6, 8), span_cols=(1, 8)),
    [
        K(["规划编制", "国土空间总体规划", "规划草案"], ["website", "wechat", "reading_room"], IMM),
        K(["规划编制", "国土空间总体规划", "批准后规划"], ["website", "gazette"], ev("approval", 20)),
        K(["规划许可", "建设用地规划许可", "许可结果"], ["website"], wd(7)),
        K(["规划许可", "建设工程规划许可", "许可结果"], ["website"], wd(7)),
        K(["村庄规划", "村庄规划成果"], ["website", "bulletin_board"], ev("approval", 20)),
        K(["规划监督", "违法建设查处"], ["bulletin_board"], wd(20)),
    ], 5, None,
    note="一级目录 is a category above the three item levels; the rowspanned 公开主体 cell covers every row",
))


def _inputs(checked: str, opts=CH13) -> str:
    import html as _h
    on = set(checked.split("|"))
    return "<br/>".join(
        f'<input type="checkbox" name="qd" value="{i}"{" checked" if o in on else ""}/>{_h.escape(o)}' for i, o in enumerate(opts)
    )


def _write_13(g, p, P=P):
    # Data merges would fill the 公开主体 column from its first row; it is filled in the first data row only.
    table = html_table(g, cell_html=lambda r, c, t: _inputs(t) if c == 9 and t else t.replace("\n", "<br/>"))
    body = ('<div class="nav"><a href="/">首页</a> &gt; <a href="#">政务公开</a> &gt; 基层政务公开</div>\n'
            f'<h1 class="title">{P}城乡规划领域基层政务公开标准目录</h1>\n'
            '<div class="info">发布日期：2024-09-25　来源：县自然资源局　点击数：<span id="hits"></span></div>\n'
            f'<div class="content">\n{table}\n</div>\n<div class="foot">【打印本页】【关闭窗口】</div>')
    p.write_text(html_page(f"{P}城乡规划领域基层政务公开标准目录", body), encoding="utf-8")


CATALOGS[-1].write = _write_13

# 14 — a saved page in GBK: the catalog nested in a layout table, a navigation table before it, page chrome;
# 征地信息公开平台 is a wording the channel map does not know.
P = "青石县自然资源局"
cols14 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开依据", None),
          ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols14)
CH14 = ["政府网站", "征地信息公开平台", "两微一端", "入户/现场", "社区/企事业单位/村公示栏（电子屏）"]
add(Cat(
    "14_zhengdi_gbk_nested.html", ["B1", "E4", "D1"], P,
    Grid(h, [
        ["1", "征收启动", "征收土地预公告", "征收范围、土地现状调查安排", "《中华人民共和国土地管理法》", "预公告形成之日起5个工作日内", P,
         boxes(["政府网站", "社区/企事业单位/村公示栏（电子屏）"], CH14), "√", ""],
        ["", "", "土地现状调查结果", "土地权属、地类、面积及地上附着物调查结果", "", "信息形成之日起10个工作日内", P,
         boxes(["政府网站", "征地信息公开平台", "社区/企事业单位/村公示栏（电子屏）"], CH14), "", "√"],
        ["2", "补偿安置", "征地补偿安置方案", "补偿标准、安置对象、安置方式、社会保障", "《中华人民共和国土地管理法实施条例》", "方案拟定后即时公开", P,
         boxes(["政府网站", "征地信息公开平台", "入户/现场"], CH14), "", "√"],
        ["", "", "补偿登记结果", "补偿登记情况", "", "登记结束后10个工作日内", P, boxes(["入户/现场"], CH14), "", "√"],
        ["3", "征收实施", "征收土地公告", "批准机关、批准文号、征收范围、补偿方式", "《中华人民共和国土地管理法》",
         "收到征地批准文件之日起15个工作日内", P, boxes(["政府网站", "征地信息公开平台"], CH14), "√", ""],
    ], header_merges=m, merge_cols=(1,)),
    [
        K(["征收启动", "征收土地预公告"], ["website", "bulletin_board"], wd(5)),
        K(["征收启动", "土地现状调查结果"], ["website", "other", "bulletin_board"], wd(10), pending={"征地信息公开平台": "other"},
          warnings=["unknown_channel"]),
        K(["补偿安置", "征地补偿安置方案"], ["website", "other", "onsite"], IMM, pending={"征地信息公开平台": "other"},
          warnings=["unknown_channel"]),
        K(["补偿安置", "补偿登记结果"], ["onsite"], ev("!formed", 10)),
        K(["征收实施", "征收土地公告"], ["website", "other"], ev("!formed", 15), also=[ev("approval", 15)],
          pending={"征地信息公开平台": "other"}, warnings=["unknown_channel"]),
    ], 3, None,
))


def _write_14(g, p, P=P):
    nav = ('<table class="nav" width="100%"><tr><td><a href="/">网站首页</a></td><td><a href="#">政务公开</a></td>'
           '<td><a href="#">政务服务</a></td><td><a href="#">互动交流</a></td></tr></table>')
    inner = html_table(g)
    body = (f'{nav}\n<table width="1000" align="center"><tr><td class="left">栏目导航<br/>基层政务公开<br/>法定主动公开内容</td>\n'
            f'<td class="main"><div class="pos">您现在的位置：首页 &gt;&gt; 政务公开 &gt;&gt; 基层政务公开</div>\n'
            f'<p style="text-align:center"><b>{P}征地补偿领域基层政务公开标准目录</b></p>\n'
            '<p>索引号：115300000000000000/2024-00087　发布日期：2024-05-08　来源：县自然资源局　作者：　点击数：</p>\n'
            f'{inner}\n<p>打印　关闭</p></td></tr></table>\n<div class="footer">版权所有：青石县人民政府　ICP备案号：</div>')
    p.write_bytes(html_page(f"{P}征地补偿领域基层政务公开标准目录", body, charset="gbk").encode("gbk"))


CATALOGS[-1].write = _write_14

# 15 — PDF (generated with reportlab): single-row header, one item level, plain channel names, two-part time limits.
P = "青石县公共资源交易中心"
H15 = [["序号", "公开事项", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "责任科室"]]
add(Cat(
    "15_gonggongziyuan_pdf.pdf", ["C5", "E3", "E4", "F"], P,
    Grid(H15, [
        ["1", "交易公告", "招标公告、资格预审公告、采购公告", "信息形成之日起5个工作日内公开，公示期不少于3个工作日", P,
         "政府网站、公共资源交易平台", "交易服务科"],
        ["2", "中标候选人公示", "中标候选人名单、排序、投标报价", "评标结束之日起3日内公示，公示期不少于3日", P, "公共资源交易平台", "交易服务科"],
        ["3", "中标结果", "中标人名称、中标金额、中标项目负责人", "信息形成之日起5个工作日内", P, "政府网站、招投标公共服务平台", "交易服务科"],
        ["4", "交易规则", "交易管理制度、进场交易服务指南", "信息形成之日起20个工作日内", P, "政府网站", "综合科"],
        ["5", "信用信息", "市场主体不良行为记录", "处理决定作出后7个工作日内", P, "政府网站、信用中国网站", "综合科"],
    ], before=["青石县公共资源交易中心主动公开目录"]),
    [
        K(["交易公告"], ["website", "other"], wd(5), ["交易服务科"], pending={"公共资源交易平台": "other"}, warnings=["unknown_channel"],
          note="two-part limit: within 5 working days, then posted at least 3 working days"),
        K(["中标候选人公示"], ["other"], ev("!formed", 3, "calendar_days"), ["交易服务科"], pending={"公共资源交易平台": "other"},
          warnings=["unknown_channel"]),
        K(["中标结果"], ["website", "other"], wd(5), ["交易服务科"], pending={"招投标公共服务平台": "other"}, warnings=["unknown_channel"]),
        K(["交易规则"], ["website"], wd(20), ["综合科"]),
        K(["信用信息"], ["website", "other"], ev("!formed", 7), ["综合科"], also=[wd(7)], pending={"信用中国网站": "other"},
          warnings=["unknown_channel"]),
    ], 2, lambda g, p: write_pdf(p, g, "青石县公共资源交易中心主动公开目录", [10, 32, 70, 60, 35, 45, 22]),
))

# 16 — CSV in GBK, quoted cells with line breaks, two-row header; periodic deadlines the schema cannot count.
P = "青石县财政局"
cols16 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开依据", None),
          ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols16)
CH16 = ["政府网站", "政府公报", "两微一端", "社区/企事业单位/村公示栏（电子屏）"]
add(Cat(
    "16_caizheng_gbk.csv", ["C1", "D4", "F"], P,
    Grid(h, [
        ["1", "预算公开", "部门预算", "部门预算及说明、\n“三公”经费预算", "《中华人民共和国预算法》", "批复后20日内", P,
         boxes(["政府网站"], CH16), "√", ""],
        ["2", "决算公开", "部门决算", "部门决算及说明、\n“三公”经费决算", "《中华人民共和国预算法》", "批复后20日内", P, boxes(["政府网站"], CH16), "√", ""],
        ["3", "政府债务", "债务限额和余额", "政府债务限额、余额、期限结构", "《中华人民共和国预算法》", "每年1月31日前", P,
         boxes(["政府网站", "政府公报"], CH16), "√", ""],
        ["4", "惠民惠农补贴", "补贴资金发放", "补贴政策依据、发放对象、\n补贴标准、发放金额", "", "信息形成之日起20个工作日内", P,
         boxes(["政府网站", "社区/企事业单位/村公示栏（电子屏）"], CH16), "", "√"],
        ["5", "政府采购", "采购意向", "采购项目名称、预算金额、预计采购时间", "《中华人民共和国政府采购法》", "采购活动开始前30日", P,
         boxes(["政府网站"], CH16), "√", ""],
    ], header_merges=m, before=["青石县财政局财政预决算领域基层政务公开标准目录"]),
    [
        K(["预算公开", "部门预算"], ["website"], ev("approval", 20, "calendar_days")),
        K(["决算公开", "部门决算"], ["website"], ev("approval", 20, "calendar_days")),
        K(["政府债务", "债务限额和余额"], ["website", "gazette"], UNK, warnings=["review"], note="fixed yearly date"),
        K(["惠民惠农补贴", "补贴资金发放"], ["website", "bulletin_board"], wd(20)),
        K(["政府采购", "采购意向"], ["website"], UNK, warnings=["review"], note="before an event: no count the schema can type"),
    ], 3, lambda g, p: p.write_bytes(csv_text(g).encode("gbk")),
))

# 17 — CSV, UTF-8 with BOM: 口 used for □ and mixed with it; 信息形成之后; 长期公开 only.
P = "青石县人力资源和社会保障局"
H17 = [["序号", "一级事项", "二级事项", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "公开对象"]]
CH17 = ["政府网站", "政府公报", "两微一端", "便民服务站"]
add(Cat(
    "17_jiuye_utf8bom.csv", ["E2", "F", "B2"], P,
    Grid(H17, [
        ["1", "就业政策", "创业担保贷款", "贷款申请条件、额度、贴息政策", "信息形成之后20个工作日内", P,
         "■政府网站 口政府公报 □两微一端 ■便民服务站", "全社会"],
        ["2", "就业服务", "招聘信息", "招聘岗位、人数、条件", "实时公开", P, "■政府网站 口政府公报 ■两微一端 口便民服务站", "全社会"],
        ["3", "职业培训", "补贴性培训", "培训项目、补贴标准、定点培训机构", "信息形成之后20个工作日内", P, "■政府网站□政府公报■两微一端□便民服务站", "全社会"],
        ["4", "社会保险", "参保缴费", "缴费基数、缴费比例", "信息形成之后10个工作日内", P, "■政府网站 口政府公报 □两微一端 ■便民服务站", "全社会"],
        ["5", "劳动维权", "劳动保障监察", "举报投诉电话、受理程序", "长期公开", P, "■政府网站 口政府公报 口两微一端 ■便民服务站", "全社会"],
    ]),
    [
        K(["就业政策", "创业担保贷款"], ["website", "service_station"], wd(20)),
        K(["就业服务", "招聘信息"], ["website", "wechat"], IMM),
        K(["职业培训", "补贴性培训"], ["website", "wechat"], wd(20)),
        K(["社会保险", "参保缴费"], ["website", "service_station"], wd(10)),
        K(["劳动维权", "劳动保障监察"], ["website", "service_station"], UNK, keep_public=True, warnings=["review"]),
    ], 3, lambda g, p: p.write_bytes(b"\xef\xbb\xbf" + csv_text(g).encode("utf-8")),
    note="no title: the publisher comes from the 公开主体 column",
))

# 18 — legacy .xls (xlwt) with merges; a header note gives the marks another meaning (■ mandatory, 口 optional).
P = "青石县卫生健康局"
cols18 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols18)
CH18 = ["政府网站", "两微一端", "公开查阅点", "社区/企事业单位/村公示栏（电子屏）"]


def b18(must: list[str]) -> str:
    return " ".join(("■" if o in must else "口") + o for o in CH18)


add(Cat(
    "18_yiliao_e5_legacy.xls", ["E5", "E2", "D1"], P,
    Grid(h, [
        ["1", "医疗机构", "机构执业信息", "医疗机构名称、地址、执业范围、诊疗科目", "信息形成之日起20个工作日内", P, b18(["政府网站"]), "√", ""],
        ["", "", "不良执业行为", "医疗机构不良执业行为记分情况", "信息形成之日起20个工作日内", P, b18(["政府网站", "公开查阅点"]), "√", ""],
        ["2", "医疗服务", "服务价格", "医疗服务项目价格、药品价格", "信息形成之日起10个工作日内", P, b18(["政府网站", "公开查阅点"]), "√", ""],
        ["3", "妇幼健康", "孕产妇健康管理", "服务内容、服务流程、服务机构", "信息形成之日起20个工作日内", P,
         b18(["社区/企事业单位/村公示栏（电子屏）"]), "", "√"],
    ], header_merges=m, merge_cols=(1,),
        before=["青石县卫生健康局医疗卫生领域基层政务公开标准目录",
                "注：公开渠道和载体中“■”为必选渠道，“口”为可选渠道，各单位可结合实际选择"]),
    [
        K(["医疗机构", "机构执业信息"], ["website"], wd(20), warnings=["review"], optional=["wechat", "reading_room", "bulletin_board"]),
        K(["医疗机构", "不良执业行为"], ["website", "reading_room"], wd(20), warnings=["review"], optional=["wechat", "bulletin_board"]),
        K(["医疗服务", "服务价格"], ["website", "reading_room"], wd(10), warnings=["review"], optional=["wechat", "bulletin_board"]),
        K(["妇幼健康", "孕产妇健康管理"], ["bulletin_board"], wd(20), warnings=["review"], optional=["website", "wechat", "reading_room"]),
    ], 3, lambda g, p: write_xls(p, g),
    note="■ marks the mandatory channels; 口 options are optional: taking only ■ or ■ and 口 both read the note (review either way)",
))

# 19 — docx with Wingdings checkbox symbols (w:sym), vertical merges, a label broken by a space, 发布会听证会 without the slash.
P = "青石县发展和改革局"
cols19 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols19)
CH19 = ["政府网站", "两微一端", "发布会听证会", "投资项目在线审批监管平台", "村公示 栏(电子屏)"]
add(Cat(
    "19_zhongdajianshe_wingdings.docx", ["E1", "E4", "D1"], P,
    Grid(h, [
        ["1", "项目审批", "审批结果", "项目名称、审批文号、审批时间", "审批后7个工作日内", P,
         boxes(["政府网站", "投资项目在线审批监管平台"], CH19), "√", ""],
        ["", "", "核准结果", "项目名称、核准文号、核准时间", "核准后7个工作日内", "", boxes(["政府网站", "投资项目在线审批监管平台"], CH19), "√", ""],
        ["2", "招标投标", "招标公告", "招标项目名称、招标方式、投标人资格要求", "信息形成之日起5个工作日内", P, boxes(["政府网站", "发布会听证会"], CH19), "√", ""],
        ["3", "征收土地", "征地公告", "征收范围、补偿标准、安置途径", "信息形成之日起10个工作日内", P, boxes(["政府网站", "村公示 栏(电子屏)"], CH19), "", "√"],
        ["4", "施工有关", "施工许可", "施工许可证号、建设单位、施工单位", "信息形成之日起7个工作日内", P, boxes(["政府网站", "两微一端"], CH19), "√", ""],
    ], header_merges=m, merge_cols=(1, 5), before=["青石县发展和改革局重大建设项目领域基层政务公开标准目录"]),
    [
        K(["项目审批", "审批结果"], ["website", "other"], ev("approval", 7), pending={"投资项目在线审批监管平台": "other"}),
        K(["项目审批", "核准结果"], ["website", "other"], ev("approval", 7), pending={"投资项目在线审批监管平台": "other"}),
        K(["招标投标", "招标公告"], ["website", "press"], wd(5), pending={"发布会听证会": "press"}),
        K(["征收土地", "征地公告"], ["website", "bulletin_board"], wd(10)),
        K(["施工有关", "施工许可"], ["website", "wechat"], wd(7)),
    ], 3, lambda g, p: write_docx(p, g, symbol_cols=(6,)),
))

# 20 — HTML fragment (no page), no ticks at all, a site-specific portal name, ■/□ in the audience cells, last row cut.
P = "青石县高新区住房和城乡建设局"
cols20 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h, m = header2(cols20)
SITE = "青石县高新区政府网站"
add(Cat(
    "20_weifang_fragment_sitename.html", ["E3", "E4", "D1", "D5"], P,
    Grid(h, [
        ["1", "危房改造", "政策文件", "改造政策、补助标准、申请条件", "信息形成之日起20个工作日内", P, SITE, "■", "□"],
        ["", "", "对象认定", "改造对象名单", "审核通过后5个工作日内", "", f"{SITE}、村公示栏", "□", "■"],
        ["", "", "补助发放", "补助资金发放结果", "分配结果确定后20个工作日内", "", "村公示栏", "□", "■"],
        ["2", "住房保障", "公租房分配", "分配对象、房源信息、分配结果", "信息形成之日起20个工作日内", "", SITE, "■", "□"],
        ["", "", "租赁补贴", "补贴对象名单、补贴", "", "", "", "", ""],
    ], header_merges=m, merge_cols=(1, 5), span_cols=(5,), cut=True),
    [
        K(["危房改造", "政策文件"], ["website"], wd(20), pending={SITE: "website"}),
        K(["危房改造", "对象认定"], ["website", "bulletin_board"], ev("review", 5), pending={SITE: "website"}),
        K(["危房改造", "补助发放"], ["bulletin_board"], ev("!formed", 20)),
        K(["住房保障", "公租房分配"], ["website"], wd(20), pending={SITE: "website"}),
        K(["住房保障", "租赁补贴"], [], UNK, warnings=["incomplete"], clear=False, note="last row cut mid-cell"),
    ], 3, None,
))


def _write_20(g, p, P=P):
    p.write_text(f'<p align="center"><strong>{P}主动公开目录</strong></p>\n{html_table(g)}\n', encoding="utf-8")


CATALOGS[-1].write = _write_20


# 21 — legacy Word .doc (made by LibreOffice from the page below): merged cells, 责任科室, ☑/☐ marks.
P = "青石县市场监督管理局"
cols21 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None), ("责任科室", None)]
h, m = header2(cols21)
CH21 = ["政府网站", "两微一端", "政务服务中心", "社区/企事业单位/村公示栏（电子屏）"]


def b21(checked: list[str]) -> str:
    return boxes(checked, CH21, on="☑", off="☐")


add(Cat(
    "21_shichangjianguan_legacy.doc", ["D1", "E1"], P,
    Grid(h, [
        ["1", "行政许可", "食品经营许可", "许可事项、办理条件、申请材料、办理流程", "信息形成之日起20个工作日内", P,
         b21(["政府网站", "政务服务中心"]), "行政审批科"],
        ["", "", "许可结果", "许可证编号、经营者名称、经营场所", "许可决定作出之日起7个工作日内", "", b21(["政府网站"]), ""],
        ["2", "行政处罚", "处罚决定", "行政处罚决定书（依法隐去个人信息）", "作出决定之日起20个工作日内", P, b21(["政府网站"]), "法规科"],
        ["3", "抽查检查", "双随机抽查", "抽查计划、抽查结果", "抽查结果形成之日起20个工作日内", P,
         b21(["政府网站", "两微一端"]), "信用监管科"],
        ["4", "食品安全", "抽检信息", "食品安全监督抽检结果", "信息形成之日起20个工作日内", P,
         b21(["政府网站", "两微一端", "社区/企事业单位/村公示栏（电子屏）"]), "食品安全科"],
    ], header_merges=m, merge_cols=(1, 5, 7), before=[f"{P}主动公开目录"]),
    [
        K(["行政许可", "食品经营许可"], ["website", "service_center"], wd(20), ["行政审批科"]),
        K(["行政许可", "许可结果"], ["website"], ev("!formed", 7), ["行政审批科"], also=[wd(7)]),
        K(["行政处罚", "处罚决定"], ["website"], ev("!formed", 20), ["法规科"], also=[wd(20)]),
        K(["抽查检查", "双随机抽查"], ["website", "wechat"], wd(20), ["信用监管科"], also=[ev("!formed", 20)]),
        K(["食品安全", "抽检信息"], ["website", "wechat", "bulletin_board"], wd(20), ["食品安全科"]),
    ], 3, None,
    note="the .doc is converted from an HTML page by LibreOffice; importing it needs LibreOffice too",
))


def _write_21(g, p, P=P):
    import os
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None or (p.exists() and not os.environ.get("CORPUS_REBUILD_DOC")):
        return False  # LibreOffice writes timestamps into the .doc: keep the committed file unless asked
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "source.html"
        src.write_text(html_page(f"{P}主动公开目录", f"<p>{P}主动公开目录</p>\n{html_table(g)}"), encoding="utf-8")
        subprocess.run([exe, f"-env:UserInstallation={(Path(tmp) / 'profile').as_uri()}", "--headless", "--infilter=HTML (StarWriter)",
                        "--convert-to", "doc:MS Word 97", "--outdir", tmp, str(src)], check=True, capture_output=True, timeout=300)
        shutil.copyfile(Path(tmp) / "source.doc", p)
    return True


CATALOGS[-1].write = _write_21


# 22 — A1 pipe text where 一级目录/二级目录/三级目录 name the item levels; 责任部门; plain channel names ending in "、";
# every row's limit is the 及时公开 wording; merged cells printed once.
P = "青石县应急管理局"
H22 = [["序号", "一级目录", "二级目录", "三级目录", "公开内容", "公开依据", "公开时限", "公开方式", "公开渠道", "责任部门", "备注"]]
J = "自该政府信息形成或者变更之日起20个工作日内及时公开"
add(Cat(
    "22_yingji_a1_pipe_mulu_levels.txt", ["A1", "C4", "C5", "D1", "E3", "E4", "F"], P,
    Grid(H22, [
        ["1", "机构职能", "机构设置", "内设机构", "内设机构名称、职责、\n负责人", "《中华人民共和国政府信息公开条例》", J, "主动公开", "政府网站、", "办公室", ""],
        ["", "", "", "领导信息", "局领导姓名、职务、分工", "", J, "主动公开", "政府网站、", "办公室", ""],
        ["2", "安全生产", "行政执法", "行政处罚", "安全生产行政处罚决定书", "《中华人民共和国安全生产法》", "作出处罚决定之日起7个工作日内", "主动公开",
         "政府网站、信用中国网站", "执法监察大队", "涉及个人隐私的依法处理"],
        ["", "", "", "执法检查计划", "年度监督检查计划及执行情况", "", "计划制定后20个工作日内", "主动公开", "政府网站", "执法监察大队", ""],
        ["3", "应急救援", "预案管理", "应急预案", "总体应急预案、专项应急预案\n及预案解读", "《中华人民共和国突发事件应对法》", J, "主动公开",
         "政府网站、两微一端", "应急救援科", ""],
        ["4", "防灾减灾", "灾情信息", "自然灾害情况", "灾害损失及救助情况", "", "实时公开", "主动公开", "政府网站、两微一端、广播电视", "减灾救灾科", ""],
    ], before=["索引号：11530000MB1234567Q/2024-00031", "青石县应急管理局主动公开基本目录"], after=["打印本页 关闭窗口"]),
    [
        K(["机构职能", "机构设置", "内设机构"], ["website"], wd(20), ["办公室"]),
        K(["机构职能", "机构设置", "领导信息"], ["website"], wd(20), ["办公室"]),
        K(["安全生产", "行政执法", "行政处罚"], ["website", "other"], ev("!formed", 7), ["执法监察大队"], also=[wd(7)],
          pending={"信用中国网站": "other"}, warnings=["unknown_channel"]),
        K(["安全生产", "行政执法", "执法检查计划"], ["website"], ev("!formed", 20), ["执法监察大队"], also=[wd(20)]),
        K(["应急救援", "预案管理", "应急预案"], ["website", "wechat"], wd(20), ["应急救援科"]),
        K(["防灾减灾", "灾情信息", "自然灾害情况"], ["website", "wechat", "broadcast"], IMM, ["减灾救灾科"]),
    ], 4, lambda g, p: p.write_text(text_a1_pipe(g, break_after=(5, 8), pad=2), encoding="utf-8"),
    note="一级目录/二级目录/三级目录 here are the item levels (no 事项 columns)",
))

# 23 — A4 CMS paragraphs: header labels split over paragraphs, a long note in the channel label (■ mandatory, 口 optional),
# level columns, two-part limit, 长期公开 alone.
P = "青石县住房和城乡建设委员会"
cols23 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开依据", None),
          ("公开\n时限", None), ("公开\n主体", None), ("公开渠道和载体（在标注范围内至少选择一项，■为必选项，口为可选项）", None),
          ("公开对象", "全社会"), ("公开对象", "特定群体"), ("公开层级", "县级"), ("公开层级", "乡级")]
h, m = header2(cols23)
CH23 = ["政府网站", "两微一端", "村务公开栏", "入户/现场"]


def b23(must: list[str]) -> str:
    return boxes(must, CH23, on="■", off="口")


add(Cat(
    "23_weifang_a4_split_labels.txt", ["A4", "B1", "C2", "C3", "E2", "E5", "F"], P,
    Grid(h, [
        ["1", "政策文件", "补助政策", "补助标准、补助对象认定办法", "《农村危房改造补助资金管理办法》", "信息形成之日起20个工作日内", P,
         b23(["政府网站", "村务公开栏"]), "√", "", "√", ""],
        ["2", "对象确认", "拟补助对象", "拟补助对象名单、\n补助金额", "", "审核后5个工作日内公示，公示期不少于7日", P,
         b23(["村务公开栏", "入户/现场"]), "", "√", "", "√"],
        ["3", "资金管理", "资金拨付", "资金拨付进度", "", "资金拨付后10个工作日内", P, b23(["政府网站"]), "√", "", "√", ""],
        ["4", "竣工验收", "验收结果", "验收合格农户名单", "", "信息形成之日起20个工作日内", P, b23(["政府网站", "村务公开栏"]), "", "√", "", "√"],
        ["5", "监督管理", "举报渠道", "监督举报电话、受理部门", "", "长期公开", P, b23(["政府网站", "两微一端"]), "√", "", "√", ""],
    ], header_merges=m),
    [
        K(["政策文件", "补助政策"], ["website", "bulletin_board"], wd(20), warnings=["review"], optional=["wechat", "onsite"]),
        K(["对象确认", "拟补助对象"], ["bulletin_board", "onsite"], ev("review", 5), warnings=["review"], optional=["website", "wechat"],
          note="two-part: within 5 working days after review, then posted at least 7 days"),
        K(["资金管理", "资金拨付"], ["website"], ev("!formed", 10), warnings=["review"], optional=["wechat", "bulletin_board", "onsite"]),
        K(["竣工验收", "验收结果"], ["website", "bulletin_board"], wd(20), warnings=["review"], optional=["wechat", "onsite"]),
        K(["监督管理", "举报渠道"], ["website", "wechat"], UNK, keep_public=True, warnings=["review"], optional=["bulletin_board", "onsite"]),
    ], 3, None,
    note="■ marks the mandatory channels; 口 options are optional: taking only ■ or ■ and 口 both read the note (review either way)",
))
CATALOGS[-1].grid.before = ["您当前的位置：首页 > 政务公开 > 基层政务公开标准目录", "青石县住房和城乡建设委员会农村危房改造领域基层政务公开标准目录",
                            "发布时间：2023-11-20 信息来源：县住房城乡建设委 阅读次数：", "【字体：大 中 小】"]
CATALOGS[-1].grid.after = ["", "【打印此页】 【关闭窗口】", "青石县人民政府 版权所有"]
CATALOGS[-1].write = lambda g, p: p.write_text(text_a4_paragraphs(g, option_cols=(7,)), encoding="utf-8")

# 24 — A5 " |" cells, no repeated header: numbered items 1./1.1 with heading rows, 事项类型, header cut to 公开,
# publisher only in 公开主体 (the title names no agency).
P = "青石县某某街道办事处"
H24 = [["序号", "事项类型", "公开事项", "公开内容", "公开", "公开主体", "公开渠道", "公开对象"]]
add(Cat(
    "24_tiyu_a5_numbered.txt", ["A5", "C3", "C5", "B2"], P,
    Grid(H24, [
        ["1", "", "1.全民健身设施", "", "", "", "", ""],
        ["", "公共服务", "1.1场地开放", "公共体育场地开放时间、收费标准", "信息形成之日起10个工作日内", P, "■政府网站 ■社区公示栏", "全社会"],
        ["", "公共服务", "1.2器材维护", "健身器材维护更新情况", "每半年公开一次", P, "■社区公示栏", "全社会"],
        ["2", "", "2.体育赛事", "", "", "", "", ""],
        ["", "公共服务", "2.1赛事预告", "赛事时间、地点、报名方式", "信息形成之日起5个工作日内", P, "■政府网站 ■两微一端", "全社会"],
        ["", "公共服务", "2.2赛事结果", "比赛成绩、获奖名单", "赛事结束后5个工作日内", P, "■政府网站", "全社会"],
    ], before=["某某街道全民健身领域基层政务公开标准目录"]),
    [
        None,
        K(["全民健身设施", "场地开放"], ["website", "bulletin_board"], wd(10)),
        K(["全民健身设施", "器材维护"], ["bulletin_board"], UNK, warnings=["review"], note="periodic"),
        None,
        K(["体育赛事", "赛事预告"], ["website", "wechat"], wd(5)),
        K(["体育赛事", "赛事结果"], ["website"], ev("!formed", 5)),
    ], 3, lambda g, p: p.write_text(text_a5_bars(g, repeat_header=False), encoding="utf-8"),
    note="number-only heading rows name the first level; the cut 公开 column is the time limit",
))

# 25 — several catalogs on one CMS page (A4 paragraphs), each with its own numbered title and header.
P = "青石县某某镇人民政府"
cols25 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None)]
h25, m25 = header2(cols25)
CH25 = ["政府网站", "发布会听证会", "公共资源交易平台", "村务公开栏"]
G25a = Grid([list(r) for r in h25], [
    ["1", "项目审批", "立项信息", "项目名称、建设内容、投资规模", "信息形成之日起20个工作日内", P, boxes(["政府网站", "村务公开栏"], CH25)],
    ["2", "招标投标", "招标公告", "招标范围、投标人资格、开标时间", "信息形成之日起5个工作日内", P, boxes(["政府网站", "公共资源交易平台"], CH25)],
    ["3", "征地拆迁", "补偿方案", "补偿标准、安置方式", "方案批准后即时公开", P, boxes(["政府网站", "发布会听证会", "村务公开栏"], CH25)],
], header_merges=m25)
G25b = Grid([list(r) for r in h25], [
    ["1", "集体资产", "资产清单", "村集体资产清单、经营情况", "每年1月31日前", P, boxes(["村务公开栏"], CH25)],
    ["2", "集体资产", "资产处置", "资产出租、出让结果", "处置完成后10个工作日内", P, boxes(["政府网站", "公共资源交易平台"], CH25)],
], header_merges=m25)
add(Cat(
    "25_zhongdajianshe_a4_two_catalogs.txt", ["A4", "B1", "B2", "B3", "E4"], P, G25a,
    [
        K(["项目审批", "立项信息"], ["website", "bulletin_board"], wd(20)),
        K(["招标投标", "招标公告"], ["website", "other"], wd(5), pending={"公共资源交易平台": "other"}, warnings=["unknown_channel"]),
        K(["征地拆迁", "补偿方案"], ["website", "press", "bulletin_board"], ev("approval"), also=[IMM], pending={"发布会听证会": "press"}),
    ], 3, None, publishers=[P, P],
    note="two catalogs on the page, each under its numbered title",
))
CATALOGS[-1].extra = [
    K(["集体资产", "资产清单"], ["bulletin_board"], UNK, catalog=1, warnings=["review"], id="村集体资产清单、经营情况"),
    K(["集体资产", "资产处置"], ["website", "other"], ev("!formed", 10), catalog=1, pending={"公共资源交易平台": "other"},
      warnings=["unknown_channel"], id="资产出租、出让结果"),
]


def _write_25(g, p):
    text = ("当前位置：首页 > 信息公开 > 基层政务公开\n\n（一）青石县某某镇重大建设项目领域基层政务公开标准目录\n\n"
            + text_a4_paragraphs(G25a, option_cols=(6,))
            + "\n（二）青石县某某镇农村集体资产管理领域基层政务公开标准目录\n\n" + text_a4_paragraphs(G25b, option_cols=(6,))
            + "\n打印 关闭\n")
    p.write_text(text, encoding="utf-8")


CATALOGS[-1].write = _write_25


# 26 — pipe text where each row's checkbox list is split around it: options in grid rows before and after the row
# (a vertically centred merged cell), "■ 政府网站" with a space, a label broken over two rows, the header repeated
# before every row.
P = "青石县林业和草原局"
T26 = """青石县林业和草原局林业领域基层政务公开标准目录
序号 | 公开事项 | 公开内容 (要素) | 公开依据 | 公开时限 | 公开主体 | 公开渠道和载体 | 公开对象 | 公开方式 | |||
一级 | 二级 | 全社 会 | 特定群体 | 主动 | 依申请 | ||||||
| | | | | | | ■ 政府网站 | | | | |
| | | | | | | □政府公报 | | | ||
| | | | | | | □两微一端 | | | ||
1 | 行政许可 | 林木采伐许可 | 1. 受理情况 2. 许可决定 3. 采伐地点、树种、蓄积 | 《中华人民共和国森林法》 | 自该信息形成或者变更之 日起 20 个工作日内 | 县林业和草原局 | □广播电视 □纸质媒体 □公开查阅点 □政务服务中心 □便民服务站 □入户/现场 | √ | | √ | ||
| | | | | | | ■社区/企事业单位/ | | | ||
| | | | | | | 村公示栏 | | | ||
| | | | | | | □精准推送 □其他 | | |
序号 | 公开事项 | 公开内容 (要素) | 公开依据 | 公开时限 | 公开主体 | 公开渠道和载体 | 公开对象 | 公开方式 | |||
一级 | 二级 | 全社 会 | 特定群体 | 主动 | 依申请 | ||||||
| | | | | | | ■ 政府网站 | | | | |
| | | | | | | □政府公报 | | | ||
| | | | | | | ■两微一端 | | | ||
2 | | 使用林地审核 | 1. 审核同意书 2. 用地单位、地点、面积 | 《中华人民共和国森林法实施条例》 | 自该信息形成或者变更之 日起 20 个工作日内 | 县林业和草原局 | □广播电视 □纸质媒体 □公开查阅点 □政务服务中心 □便民服务站 □入户/现场 | √ | | √ | ||
| | | | | | | □社区/企事业单位/ | | | ||
| | | | | | | 村公示栏 | | | ||
| | | | | | | □精准推送 □其他 | | |
序号 | 公开事项 | 公开内容 (要素) | 公开依据 | 公开时限 | 公开主体 | 公开渠道和载体 | 公开对象 | 公开方式 | |||
一级 | 二级 | 全社 会 | 特定群体 | 主动 | 依申请 | ||||||
| | | | | | | ■ 政府网站 | | | | |
| | | | | | | □政府公报 | | | ||
| | | | | | | □两微一端 | | | ||
3 | 生态保护 | 生态护林员 | 选聘条件、选聘程序、聘用名单 | 《生态护林员管理办法》 | 名单确定后7个工作日内 | 县林业和草原局 | □广播电视 □纸质媒体 □公开查阅点 □政务服务中心 □便民服务站 ■入户/现场 | | √ | √ | ||
| | | | | | | ■社区/企事业单位/ | | | ||
| | | | | | | 村公示栏 | | | ||
| | | | | | | □精准推送 □其他 | | |
序号 | 公开事项 | 公开内容 (要素) | 公开依据 | 公开时限 | 公开主体 | 公开渠道和载体 | 公开对象 | 公开方式 | |||
一级 | 二级 | 全社 会 | 特定群体 | 主动 | 依申请 | ||||||
| | | | | | | ■ 政府网站 | | | | |
| | | | | | | □政府公报 | | | ||
| | | | | | | □两微一端 | | | ||
4 | | 森林防火 | 防火期、禁火区域、火险等级预警 | 《森林防火条例》 | 即时公开 | 县林业和草原局 | □广播电视 □纸质媒体 □公开查阅点 □政务服务中心 □便民服务站 □入户/现场 | √ | | √ | ||
| | | | | | | ■社区/企事业单位/ | | | ||
| | | | | | | 村公示栏 | | | ||
| | | | | | | ■精准推送 □其他 | | |
"""
add(Cat(
    "26_linye_pipe_split_checkboxes.txt", ["A1", "B3", "C1", "C2", "D1", "E1"], P,
    Grid([["序号", "", "", ""]], [["", "", "", "1.受理情况2.许可决定"], ["", "", "", "1.审核同意书2.用地单位"], ["", "", "", "选聘条件、选聘程序"],
                      ["", "", "", "防火期、禁火区域"]]),
    [
        K(["行政许可", "林木采伐许可"], ["website", "bulletin_board"], wd(20)),
        K(["行政许可", "使用林地审核"], ["website", "wechat"], wd(20), note="一级 printed once: the row lacks that cell"),
        K(["生态保护", "生态护林员"], ["website", "onsite", "bulletin_board"], ev("!formed", 7)),
        K(["生态保护", "森林防火"], ["website", "bulletin_board", "targeted_push"], IMM),
    ], 3, lambda g, p: p.write_text(T26, encoding="utf-8"),
    note="each row's checkbox list starts in the grid rows above it and ends in the rows below it",
))

# 27 — pipe text with the title inside the table, a 公开类别 column above three item levels, an unknown channel
# (政务公开专区), ticks pushed onto the next line.
P = "青石县发展和改革局"
T27 = """青石县发展和改革局政务公开标准目录 | |||||||||||||
序号 | 公开 类别 |
公开事项 | 公开内容(要素) | 公开依据 | 公开时限 | 公开主体 | 公开渠道和载体 | 公开对象 | 公开方式 | ||||
一级事项 | 二级事项 | 三级事项 | 全社会 | 特定群体 | 主动 | 依申请 | |||||||
1 | 决策公开 | 履职依据 | 规范性文件 | 1.本局制定的规范性文件文本 2.规范性文件清理情况 3.政策解读材料 |
《中华人民共和国政府信息公开条例》 | 信息形成或变更之日起20个工作日内 | 县发展和改革局 | ■政府网站 ■政务公开专区 □其他 |
√ | | √ | |||
2 | 重大决策预公开 | 决策草案 | 决策草案、起草说明、意见征集方式 | 《重大行政决策程序暂行条例》 | 征求意见时即时公开 | 县发展和改革局 | ■政府网站 □政务公开专区 □其他 |
√ | | √ | |||||
3 | 执行公开 | 规划计划 | 中长期规划 | 国民经济和社会发展规划纲要及专项规划 | 《中华人民共和国政府信息公开条例》 | 规划批准后20个工作日内 | 县发展和改革局 | ■政府网站 ■政务公开专区 □其他 |
√ | | √ | |||
4 | 年度计划 | 年度工作计划和总结 | 《中华人民共和国政府信息公开条例》 | 信息形成或变更之日起20个工作日内 | 县发展和改革局 | ■政府网站 □政务公开专区 □其他 |
√ | | √ | |||||
"""
add(Cat(
    "27_fagai_pipe_category_column.txt", ["A1", "B2", "C4", "C5", "D1", "D2", "E4"], P,
    Grid([["序号", "", "", ""]], [["", "", "", "1.本局制定的规范性文件"], ["", "", "", "决策草案、起草说明"], ["", "", "", "国民经济和社会发展规划"],
                      ["", "", "", "年度工作计划和总结"]]),
    [
        K(["履职依据", "规范性文件"], ["website", "other"], wd(20), pending={"政务公开专区": "other"},
          warnings=["unknown_channel"], note="公开类别 is a category above the three item levels"),
        K(["重大决策预公开", "决策草案"], ["website"], IMM),
        K(["规划计划", "中长期规划"], ["website", "other"], ev("approval", 20), pending={"政务公开专区": "other"},
          warnings=["unknown_channel"]),
        K(["规划计划", "年度计划"], ["website"], wd(20), note="公开类别 and 一级事项 printed once: the row starts at 二级事项"),
    ], 3, lambda g, p: p.write_text(T27, encoding="utf-8"),
))

# 28 — pipe text where merged cells vanished: later rows lack the 一级 cell, the header label cut to 全社, plain
# channel names, no 公开主体 column (the title names the agency).
P = "青石县统计局"
T28 = """首页 > 政府信息公开 > 法定主动公开内容
青石县统计局政府信息主动公开基本目录
序号 | 公开事项 | 公开内容 | 公开依据 | 公开时限 | 公开渠道和载体 | 公开对象 | 公开方式 | |||
一级 | 二级 | 全社 | 特定群体 | 主动 | 依申请 | |||||
1 | 机构信息 | 机构 职能 | 单位名称、机构职能、办公地址、联系电话 | 《中华人民共和国政府信息公开条例》 | 信息形成或变更之日起20个工作日内 | 政府网站 | √ | | √ | ||
2 | 领导信息 | 领导姓名、职务、分管工作 | 《中华人民共和国政府信息公开条例》 | 信息形成或变更之日起20个工作日内 | 政府网站 | √ | | √ | |||
3 | 内设科室 | 内设科室名称、职能职责 | 《中华人民共和国政府信息公开条例》 | 信息形成或变更之日起20个工作日内 | 政府网站 | √ | | √ | |||
4 | 统计信息 | 统计公报 | 国民经济和社会发展统计公报 | 《中华人民共和国统计法》 | 统计公报经批准后10个工作日内 | 政府网站、政府公报 | √ | | √ | ||
5 | 统计数据 | 月度主要统计指标 | 《中华人民共和国统计法》 | 每月15日前 | 政府网站、两微一端 | √ | | √ | |||
6 | 公开年报 | 本部门政府信息公开工作年度报告 | 《中华人民共和国政府信息公开条例》 | 每年1月31日前 | 政府网站 | √ | | √ | |||
"""
add(Cat(
    "28_tongji_pipe_dropped_cells.txt", ["A1", "C3", "D1", "E3", "F"], P,
    Grid([["序号", "", "", ""]], [["", "", "", "单位名称、机构职能"], ["", "", "", "领导姓名、职务、分管工作"], ["", "", "", "内设科室名称、职能职责"],
                      ["", "", "", "国民经济和社会发展统计公报"], ["", "", "", "月度主要统计指标"], ["", "", "", "本部门政府信息公开工作年度报告"]]),
    [
        K(["机构信息", "机构职能"], ["website"], wd(20)),
        K(["机构信息", "领导信息"], ["website"], wd(20), note="一级 printed once: the row starts at 二级"),
        K(["机构信息", "内设科室"], ["website"], wd(20)),
        K(["统计信息", "统计公报"], ["website", "gazette"], ev("approval", 10)),
        K(["统计信息", "统计数据"], ["website", "wechat"], UNK, warnings=["review"], note="monthly date"),
        K(["统计信息", "公开年报"], ["website"], UNK, warnings=["review"], note="yearly date"),
    ], 3, lambda g, p: p.write_text(T28, encoding="utf-8"),
))


# 29 — every cell on its own line followed by a line holding only "|"; checkbox marks that lost their Wingdings
# font (þ checked, ¨ unchecked) run together without spaces over several lines; "20工作日"; a hotline channel the
# map does not know; the title names no agency (公开主体 does).
P = "青石县住房和城乡建设局"
cols29 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开依据", None),
          ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体"),
          ("公开方式", "主动"), ("公开方式", "依申请"), ("公开层级", "县级"), ("公开层级", "乡、村级")]
h29, m29 = header2(cols29)
OPTS29 = [["政府网站", "政府公报"], ["两微一端", "发布会/听证会"], ["广播电视", "纸质载体"], ["公开查阅点", "政务服务中心"],
          ["便民服务站", "入户/现场"], ["社区/企事业单位/村公示栏(电子屏)"], ["精准推送", "12345政务服务热线", "其他"]]


def w29(checked: list[str]) -> str:
    return "\n".join("".join(("þ" if o in checked else "¨") + o for o in line) for line in OPTS29)


add(Cat(
    "29_zhufang_pipe_lines_wingdings_letters.txt", ["A5", "B1", "C1", "E1", "E4", "F"], P,
    Grid(h29, [
        ["1", "住房保障", "公租房租赁补贴资格确认", "申请条件、审核程序、补贴标准", "《关于做好城镇住房保障家庭租赁补贴工作的指导意见》", "20工作日", P,
         w29(["政府网站", "政务服务中心", "社区/企事业单位/村公示栏(电子屏)"]), "√", "", "√", "", "√", ""],
        ["2", "", "公租房承租资格确认", "承租条件、轮候排序结果", "《公共租赁住房管理办法》", "20工作日", P,
         w29(["政府网站", "12345政务服务热线"]), "", "√", "√", "", "√", ""],
        ["3", "棚户区改造", "年度改造计划", "年度改造计划、项目名称、改造户数", "", "计划下达后20个工作日内", P,
         w29(["政府网站", "两微一端"]), "√", "", "√", "", "√", "√"],
        ["4", "", "补偿安置", "补偿方案、安置房源", "", "信息形成之日起10个工作日内", P,
         w29(["入户/现场", "社区/企事业单位/村公示栏(电子屏)"]), "", "√", "√", "", "", "√"],
    ], header_merges=m29, before=["附件2：", "基层政务公开标准目录"],
        after=["标准目录要素说明：", "1.公开事项名称。基层政务公开事项目录主要是政务公开事项的名称和主要公开内容分类。"]),
    [
        K(["住房保障", "公租房租赁补贴资格确认"], ["website", "service_center", "bulletin_board"], wd(20)),
        K(["住房保障", "公租房承租资格确认"], ["website", "other"], wd(20), pending={"12345政务服务热线": "other"},
          warnings=["unknown_channel"]),
        K(["棚户区改造", "年度改造计划"], ["website", "wechat"], ev("!formed", 20)),
        K(["棚户区改造", "补偿安置"], ["onsite", "bulletin_board"], wd(10)),
    ], 3, None,
    note="þ/¨ are Wingdings ☑/□ shown without their font; the explanation after the table is no row",
))


def _write_29(g, p):
    # Cells covered by a merge leave no placeholder (the HTML had none); every other cell ends with a "|" line.
    covered = {(r + i, c + j) for r, c, rs, cs in g.header_merges for i in range(rs) for j in range(cs) if i or j}
    out = list(g.before)
    for n, row in enumerate(g.header + g.rows):
        for c, cell in enumerate(row):
            if (n, c) in covered:
                continue
            out.extend(cell.split("\n") if cell else [])
            out.append("|")
    out.extend(g.after)
    p.write_text("\n".join(out) + "\n", encoding="utf-8")


CATALOGS[-1].write = _write_29


# 30 — a Word document saved as a web page (declared gb2312, MsoNormal paragraphs, <o:p>, &nbsp; in empty cells),
# checkboxes as Wingdings letters in styled spans, rowspans.
P = "青石县民政局"
cols30 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开依据", None),
          ("公开时限", None), ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h30, m30 = header2(cols30)
CH30 = ["政府网站", "两微一端", "公开查阅点", "便民服务站", "社区/企事业单位/村公示栏（电子屏）"]
add(Cat(
    "30_yanglao_word_html_wingdings.html", ["B1", "D1", "E1"], P,
    Grid(h30, [
        ["1", "养老服务机构", "机构名录", "养老机构名称、地址、床位数、收费标准", "《养老机构管理办法》", "信息形成之日起20个工作日内", P,
         boxes(["政府网站", "公开查阅点"], CH30), "√", ""],
        ["", "", "等级评定", "养老机构等级评定结果", "", "评定结果公布后10个工作日内", P, boxes(["政府网站"], CH30), "√", ""],
        ["2", "养老补贴", "高龄津贴", "补贴对象、补贴标准、申领程序", "", "信息形成之日起20个工作日内", P,
         boxes(["政府网站", "便民服务站", "社区/企事业单位/村公示栏（电子屏）"], CH30), "", "√"],
        ["", "", "发放名单", "津贴发放对象名单及金额", "", "每季度公开一次", P, boxes(["社区/企事业单位/村公示栏（电子屏）"], CH30), "", "√"],
        ["3", "政策法规", "养老政策", "养老服务相关政策文件及解读", "《中华人民共和国老年人权益保障法》", "与政策文件同步发布", P,
         boxes(["政府网站", "两微一端"], CH30), "√", ""],
    ], header_merges=m30, merge_cols=(0, 1, 4, 6)),
    [
        K(["养老服务机构", "机构名录"], ["website", "reading_room"], wd(20)),
        K(["养老服务机构", "等级评定"], ["website"], ev("!formed", 10)),
        K(["养老补贴", "高龄津贴"], ["website", "service_station", "bulletin_board"], wd(20)),
        K(["养老补贴", "发放名单"], ["bulletin_board"], UNK, warnings=["review"], note="periodic"),
        K(["政策法规", "养老政策"], ["website", "wechat"], rel()),
    ], 3, None,
))


def _write_30(g, p, P=P):
    import html as _h

    def cell(r, c, t):
        if not t:
            return "<p class=MsoNormal><span lang=EN-US>&nbsp;<o:p></o:p></span></p>"
        if c == 7:
            spans = []
            for ch in t:
                if ch in "■□":
                    mark = "&#254;" if ch == "■" else "&#168;"  # þ ¨: Word writes them as character references
                    spans.append(f"<span style='font-family:Wingdings;mso-ascii-font-family:宋体'>{mark}</span>")
                else:
                    spans.append(_h.escape(ch))
            return "<p class=MsoNormal><span style='font-size:9.0pt'>" + "".join(spans) + "<o:p></o:p></span></p>"
        return "".join(f"<p class=MsoNormal><span style='font-size:9.0pt;font-family:宋体'>{_h.escape(x)}<o:p></o:p></span></p>"
                       for x in t.split("\n"))

    table = html_table(g, cell_html=cell, table_attrs="class=MsoNormalTable border=1 cellspacing=0 cellpadding=0")
    body = (f"<div class=WordSection1><p class=MsoNormal align=center style='text-align:center'><b><span style='font-size:16.0pt'>"
            f"{P}养老服务领域基层政务公开标准目录<o:p></o:p></span></b></p>\n{table}\n"
            "<p class=MsoNormal><span lang=EN-US><o:p>&nbsp;</o:p></span></p></div>")
    doc = (f'<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word">\n'
           f'<head><meta http-equiv=Content-Type content="text/html; charset=gb2312"><meta name=Generator content="Microsoft Word 15">'
           f"<title>{P}养老服务领域基层政务公开标准目录</title><style><!-- p.MsoNormal {{margin:0cm;}} --></style></head>\n"
           f"<body lang=ZH-CN>{body}</body></html>\n")
    p.write_bytes(doc.encode("gbk"))


CATALOGS[-1].write = _write_30


# 31 — a duty-based catalog (具体职责 | 业务事项 | 信息类别 | 内容标准 | 公开时限 | 公开形式): content elements spread over
# following rows whose other cells are empty, 具体职责 printed once, "政府网站常规公开" as the channel.
P = "青石县审计局"
T31 = """青石县审计局政府信息公开标准目录
序号 | 具体职责 | 业务事项 | 信息类别 | 内容标准 | 公开时限 | 公开形式 |
1 | 负责本局政务公开、政府信息公开、机要保密等工作 | 政务公开 | 基本信息 | 【机构名称】 | 信息形成或者变更之日起20个工作日内 | 政府网站常规公开 |
【办公地址】 | ||||||
【联系电话】 | ||||||
2 | 政务公开 | 法定职责 | 依据“三定”方案确定的本局法定职责 | 信息形成或者变更之日起20个工作日内 | 政府网站常规公开 | |
3 | 政务公开 | 领导信息 | 【姓名】【职务】【分工】 | 信息形成或者变更之日起20个工作日内 | 政府网站常规公开 | |
4 | 政府信息公开 | 信息公开年报 | 【标题】【正文】 | 按年公开 | 政府网站常规公开 | |
5 | 负责本单位预决算管理 | 财政预决算 | 部门预算 | 部门预算及“三公”经费预算 | 部门预算经本级财政部门批复后20日内公开 | 政府网站常规公开 |
6 | 财政预决算 | 部门决算 | 部门决算及“三公”经费决算 | 部门决算经本级财政部门批复后20日内公开 | 政府网站常规公开 | |
7 | 负责审计结果公告工作 | 审计公告 | 审计结果 | 【审计项目名称】 | 审计报告批准后15个工作日内 | 政府网站常规公开 |
【审计发现的主要问题】 | ||||||
【整改情况】 | ||||||
"""
add(Cat(
    "31_shenji_pipe_duty_columns.txt", ["A1", "C4", "D1", "D4", "E3", "E4", "F"], P,
    Grid([["序号", "", "", ""]], [["", "", "", "【机构名称】"], ["", "", "", "依据“三定”方案确定的本局"], ["", "", "", "【姓名】【职务】【分工】"],
                                 ["", "", "", "【标题】【正文】"], ["", "", "", "部门预算及“三公”经费预算"],
                                 ["", "", "", "部门决算及“三公”经费决算"], ["", "", "", "【审计项目名称】"]]),
    [
        K(["政务公开", "基本信息"], ["website"], wd(20), pending={"政府网站常规公开": "website"},
          note="content elements 【办公地址】【联系电话】 continue on the next rows"),
        K(["政务公开", "法定职责"], ["website"], wd(20), pending={"政府网站常规公开": "website"}),
        K(["政务公开", "领导信息"], ["website"], wd(20), pending={"政府网站常规公开": "website"}),
        K(["政府信息公开", "信息公开年报"], ["website"], UNK, pending={"政府网站常规公开": "website"}, warnings=["review"]),
        K(["财政预决算", "部门预算"], ["website"], ev("approval", 20, "calendar_days"), pending={"政府网站常规公开": "website"}),
        K(["财政预决算", "部门决算"], ["website"], ev("approval", 20, "calendar_days"), pending={"政府网站常规公开": "website"}),
        K(["审计公告", "审计结果"], ["website"], ev("approval", 15), pending={"政府网站常规公开": "website"}),
    ], 3, lambda g, p: p.write_text(T31, encoding="utf-8"),
    note="the item is 业务事项/信息类别; 具体职责 is a column to keep, printed once for the rows it covers",
))

# 32 — pipe text with the title in a pipe row, one 公开事项 column (no 一级/二级 sub-header), options run together
# without spaces, numbered content "1、… 2、…", a level column 乡级.
P = "青石县某某镇人民政府"
T32 = """| 某某镇涉农资金领域基层政务公开标准目录 | |||||||||||
| 序号 | 公开事项 | 公开内容 (要素) | 公开依据 | 公开时限 | 公开主体 | 公开渠道和载体 | 公开对象 | 公开方式 | 公开层级 | ||
| 全社会 | 特定群体 | 主动 | 依申请 | 乡级 | |||||||
| 1 | 政策文件 | 1、上级涉农资金相关文件 2、本镇涉农资金相关文件 | 《中华人民共和国政府信息公开条例》 | 信息形成或者变更之日起20个工作日内 | 青石县某某镇人民政府 | ■政府网站  □政府公报 □两微一端 □发布会/听证会 □广播电视 □纸质媒体 ■公开查阅点□行政服务中心 □便民服务站□入户/现场 □社区/企事业单位/村公示栏(电子屏) □精准推送 □其他 | √ | √ | √ | ||
| 2 | 资金明细 | 涉农资金名称、补贴对象、补贴标准、发放金额 | 《中华人民共和国政府信息公开条例》 | 信息形成或者变更之日起20个工作日内 | 青石县某某镇人民政府 | ■政府网站  □政府公报 □两微一端 □发布会/听证会 □广播电视 □纸质媒体 □公开查阅点□行政服务中心 □便民服务站□入户/现场 ■社区/企事业单位/村公示栏(电子屏) □精准推送 □其他 | | √ | √ | ||
| 3 | 监督检查 | 资金使用监督检查结果 | 《中华人民共和国政府信息公开条例》 | 检查结束后10个工作日内 | 青石县某某镇人民政府 | ■政府网站  □政府公报 ■两微一端 □发布会/听证会 □广播电视 □纸质媒体 □公开查阅点□行政服务中心 □便民服务站□入户/现场 □社区/企事业单位/村公示栏(电子屏) □精准推送 □其他 | √ | √ | √ | ||
| 4 | 投诉举报 | 举报电话、受理部门 | 《中华人民共和国政府信息公开条例》 | 长期公开 | 青石县某某镇人民政府 | ■政府网站  □政府公报 □两微一端 □发布会/听证会 □广播电视 □纸质媒体 □公开查阅点■行政服务中心 □便民服务站□入户/现场 □社区/企事业单位/村公示栏(电子屏) □精准推送 □其他 | √ | √ | √ | ||
"""
add(Cat(
    "32_shenong_pipe_single_item_column.txt", ["A1", "B2", "C1", "C5", "D4", "E1", "F"], P,
    Grid([["序号", "", "", ""]], [["", "", "", "1、上级涉农资金相关文件"], ["", "", "", "涉农资金名称、补贴对象"], ["", "", "", "资金使用监督检查结果"],
                                 ["", "", "", "举报电话、受理部门"]]),
    [
        K(["政策文件"], ["website", "reading_room"], wd(20)),
        K(["资金明细"], ["website", "bulletin_board"], wd(20)),
        K(["监督检查"], ["website", "wechat"], ev("!formed", 10)),
        K(["投诉举报"], ["website", "service_center"], UNK, keep_public=True, warnings=["review"]),
    ], 3, lambda g, p: p.write_text(T32, encoding="utf-8"),
    note="the title names the town, 公开主体 the agency; one 公开事项 column",
))


# 33 — a page listing its catalogs first (a table of contents whose lines look like titles), then two catalogs in
# pipe text, "特定 群众" broken, a limit with its posting period after a comma.
P = "青石县某某镇人民政府"
T33 = """索 引 号 | 11530000MB0000000X/2024-02411 | 公开方式 | 主动公开 |
发布机构 | 青石县某某镇人民政府 | 组配分类 | 镇街试点领域标准目录 |
(一)公共资源交易领域基层政务公开标准目录3
(二)社会救助领域基层政务公开标准目录9
(三)养老服务领域基层政务公开标准目录13
(一)公共资源交易领域基层政务公开标准目录
序号 | 公开事项 | 公开内容(要素) | 公开依据 | 公开 时限 | 公开 主体 | 公开渠道和载体 | 公开对象 | 公开方式 | |||
一级事项 | 二级事项 | 全社会 | 特定 群众 | 主动 | 依申请公开 | ||||||
1 | 政府采购信息 | 招标公告 | 采购人名称、采购项目名称、预算金额、投标截止时间 | 《中华人民共和国政府采购法》 | 及时公开,公告期限为5个工作日 | 青石县某某镇人民政府 | ■政府网站 ■公共资源交易平台 | √ | | √ | |
2 | 政府采购信息 | 中标结果 | 中标供应商名称、中标金额 | 《中华人民共和国政府采购法》 | 中标供应商确定之日起2个工作日内 | 青石县某某镇人民政府 | ■政府网站 ■公共资源交易平台 | √ | | √ | |
3 | 工程建设项目 | 招标公告 | 工程名称、建设地点、招标范围 | 《中华人民共和国招标投标法》 | 信息形成之日起5个工作日内 | 青石县某某镇人民政府 | ■政府网站 | √ | | √ | |
(二)社会救助领域基层政务公开标准目录
序号 | 公开事项 | 公开内容(要素) | 公开依据 | 公开 时限 | 公开 主体 | 公开渠道和载体 | 公开对象 | 公开方式 | |||
一级事项 | 二级事项 | 全社会 | 特定 群众 | 主动 | 依申请公开 | ||||||
1 | 最低生活保障 | 低保对象 | 低保对象姓名、保障人数、保障金额 | 《社会救助暂行办法》 | 每月更新 | 青石县某某镇人民政府 | ■村(居)公示栏 | | √ | √ | |
2 | 临时救助 | 救助结果 | 救助对象、救助金额 | 《社会救助暂行办法》 | 审批后10个工作日内 | 青石县某某镇人民政府 | ■政府网站 ■村(居)公示栏 | | √ | √ | |
"""
add(Cat(
    "33_zhenjie_pipe_toc_two_catalogs.txt", ["A1", "B1", "B2", "B3", "C2", "E4", "F"], P,
    Grid([["序号", "", "", ""]], [["", "", "", "采购人名称、采购项目名称"], ["", "", "", "中标供应商名称、中标金额"], ["", "", "", "工程名称、建设地点、招标范围"]]),
    [
        K(["政府采购信息", "招标公告"], ["website", "other"], IMM, pending={"公共资源交易平台": "other"}, warnings=["unknown_channel"],
          note="及时公开 then a posting period"),
        K(["政府采购信息", "中标结果"], ["website", "other"], ev("!formed", 2), also=[wd(2)], pending={"公共资源交易平台": "other"},
          warnings=["unknown_channel"]),
        K(["工程建设项目", "招标公告"], ["website"], wd(5)),
    ], 3, lambda g, p: p.write_text(T33, encoding="utf-8"), publishers=[P, P],
    note="the contents lines at the top are no catalog titles of a table; the third listed catalog is not on the page",
))
CATALOGS[-1].extra = [
    K(["最低生活保障", "低保对象"], ["bulletin_board"], UNK, catalog=1, warnings=["review"], id="低保对象姓名、保障人数"),
    K(["临时救助", "救助结果"], ["website", "bulletin_board"], ev("approval", 10), catalog=1, id="救助对象、救助金额"),
]

# 34 — an Excel workbook with one catalog per sheet, each under a merged title row.
P = "青石县交通运输局"
H34 = [["序号", "一级事项", "二级事项", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "责任科室"]]
G34a = Grid(H34, [
    ["1", "行政许可", "道路运输经营许可", "许可条件、申请材料、办理结果", "许可决定作出之日起7个工作日内", P, "政府网站、政务服务中心", "运输管理股"],
    ["2", "行政处罚", "处罚决定", "行政处罚决定书", "作出决定之日起7个工作日内", P, "政府网站、信用中国网站", "法制股"],
], before=["青石县交通运输局行政执法领域主动公开目录"])
G34b = Grid(H34, [
    ["1", "农村公路", "建设计划", "年度农村公路建设计划、资金安排", "计划下达后20个工作日内", P, "政府网站", "规划建设股"],
    ["2", "农村公路", "养护情况", "农村公路养护里程、养护资金", "每年3月31日前", P, "政府网站、两微一端", "规划建设股"],
], before=["青石县交通运输局农村公路领域主动公开目录"])
add(Cat(
    "34_jiaotong_xlsx_two_sheets.xlsx", ["B2", "B3", "E3", "E4"], P, G34a,
    [
        K(["行政许可", "道路运输经营许可"], ["website", "service_center"], ev("!formed", 7), ["运输管理股"], also=[wd(7)]),
        K(["行政处罚", "处罚决定"], ["website", "other"], ev("!formed", 7), ["法制股"], also=[wd(7)], pending={"信用中国网站": "other"},
          warnings=["unknown_channel"]),
    ], 3, None, publishers=[P, P],
))
CATALOGS[-1].extra = [
    K(["农村公路", "建设计划"], ["website"], ev("!formed", 20), ["规划建设股"], catalog=1, also=[wd(20)], id="年度农村公路建设计划、资"),
    K(["农村公路", "养护情况"], ["website", "wechat"], UNK, ["规划建设股"], catalog=1, warnings=["review"], id="农村公路养护里程、养护资"),
]


def _write_34(g, p):
    import openpyxl

    wb = openpyxl.Workbook()
    for n, (grid, title) in enumerate(((G34a, "行政执法"), (G34b, "农村公路"))):
        ws = wb.active if n == 0 else wb.create_sheet()
        ws.title = title
        ws.append([grid.before[0]])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=grid.width)
        for row in grid.header + grid.rows:
            ws.append(row)
    wb.save(p)
    from render import _reproducible_zip

    _reproducible_zip(p)


CATALOGS[-1].write = _write_34

# 35 — a Word table broken over two tables by a page break, the header row printed again on the second.
P = "青石县水利局"
cols35 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "全社会"), ("公开对象", "特定群体")]
h35, m35 = header2(cols35)
CH35 = ["政府网站", "两微一端", "村务公开栏"]
G35a = Grid([list(r) for r in h35], [
    ["1", "水利规划", "规划信息", "水利发展规划及专项规划", "规划批准后20个工作日内", P, boxes(["政府网站"], CH35), "√", ""],
    ["2", "防汛抗旱", "汛情信息", "雨情、水情、汛情预警", "即时公开", P, boxes(["政府网站", "两微一端"], CH35), "√", ""],
], header_merges=m35, before=["青石县水利局主动公开目录"])
G35b = Grid([list(r) for r in h35], [
    ["3", "农村供水", "水质信息", "农村集中供水工程水质检测结果", "检测结果形成之日起10个工作日内", P, boxes(["政府网站", "村务公开栏"], CH35), "", "√"],
    ["4", "河湖管理", "河长名单", "河长姓名、职务、联系方式、责任河段", "信息形成之日起20个工作日内", P, boxes(["政府网站", "村务公开栏"], CH35), "√", ""],
], header_merges=m35)
add(Cat(
    "35_shuili_docx_table_broken_by_page.docx", ["D1", "E1"], P, G35a,
    [
        K(["水利规划", "规划信息"], ["website"], ev("approval", 20)),
        K(["防汛抗旱", "汛情信息"], ["website", "wechat"], IMM),
    ], 3, None,
    note="the table goes on in a second Word table after a page break, its header printed again",
))
CATALOGS[-1].extra = [
    K(["农村供水", "水质信息"], ["website", "bulletin_board"], ev("!formed", 10), also=[wd(10)], id="农村集中供水工程水质检测"),
    K(["河湖管理", "河长名单"], ["website", "bulletin_board"], wd(20), id="河长姓名、职务、联系方式"),
]


def _write_35(g, p):
    from docx import Document
    from docx.enum.text import WD_BREAK

    doc = Document()
    doc.add_paragraph(G35a.before[0])
    for n, grid in enumerate((G35a, G35b)):
        if n:
            doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        rows = grid.header + grid.rows
        table = doc.add_table(len(rows), grid.width)
        table.style = "Table Grid"
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.cell(r, c).text = text
        for r, c, rs, cs in grid.header_merges:
            table.cell(r, c).merge(table.cell(r + rs - 1, c + cs - 1))
    doc.save(str(p))
    from render import _reproducible_zip

    _reproducible_zip(p)


CATALOGS[-1].write = _write_35

# 36 — a saved page whose sub-headers use other words (社会公众/特定对象, 主动公开/依申请公开, 市级/镇(街)级), ticks
# written 是 in some rows and √ in others, the channel cell a short plain list.
P = "青石县教育局"
cols36 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None), ("公开对象", "社会公众"), ("公开对象", "特定对象"),
          ("公开方式", "主动公开"), ("公开方式", "依申请公开"), ("公开层级", "市级"), ("公开层级", "镇(街)级")]
h36, m36 = header2(cols36)
add(Cat(
    "36_jiaoyu_html_other_subheaders.html", ["C1", "D2", "E3"], P,
    Grid(h36, [
        ["1", "学校信息", "学校名录", "学校名称、办学性质、地址、联系电话", "信息形成之日起20个工作日内", P, "政府网站", "是", "", "是", "", "是", ""],
        ["2", "招生考试", "中考政策", "中考招生政策、录取规则", "政策印发后5个工作日内", P, "政府网站、两微一端", "√", "", "√", "", "√", ""],
        ["3", "教育收费", "收费标准", "收费项目、收费标准、收费依据", "信息形成之日起10个工作日内", P, "政府网站、公开查阅点", "√", "", "√", "", "", "√"],
        ["4", "学生资助", "资助名单", "受助学生名单", "资助名单确定后5个工作日内", P, "校务公开栏", "", "是", "是", "", "", "是"],
    ], header_merges=m36, before=[f"{P}教育领域基层政务公开标准目录"]),
    [
        K(["学校信息", "学校名录"], ["website"], wd(20)),
        K(["招生考试", "中考政策"], ["website", "wechat"], ev("!formed", 5), also=[wd(5)]),
        K(["教育收费", "收费标准"], ["website", "reading_room"], wd(10)),
        K(["学生资助", "资助名单"], ["bulletin_board"], ev("!formed", 5)),
    ], 3, None,
))


def _write_36(g, p, P=P):
    body = f"<h2>{P}教育领域基层政务公开标准目录</h2>\n{html_table(g)}\n<p>【打印本页】</p>"
    p.write_text(html_page(f"{P}教育领域基层政务公开标准目录", body), encoding="utf-8")


CATALOGS[-1].write = _write_36


# 37 — single-space text with a 公开层级 column holding words (县级、乡级) instead of ticks, and 公开对象 words.
P = "青石县民族宗教事务局"
H37 = [["序号", "一级事项", "二级事项", "公开内容", "公开时限", "公开主体", "公开渠道和载体", "公开对象", "公开层级"]]
add(Cat(
    "37_minzong_a2_level_words.txt", ["A2", "D2", "D3"], P,
    Grid(H37, [
        ["1", "政策法规", "宗教政策", "宗教事务相关法律法规\n和政策文件", "信息形成之日起20个工作日内", P, "■政府网站 □两微一端 □公开查阅点", "全社会", "县级"],
        ["2", "宗教活动场所", "场所名录", "宗教活动场所名称、地址、\n负责人", "信息形成之日起20个工作日内", P, "■政府网站 ■公开查阅点 □两微一端", "全社会", "县级、乡级"],
        ["3", "民族工作", "少数民族\n补助", "补助对象、补助标准、发放结果", "审核通过后7个工作日内", P, "□政府网站 □两微一端 ■公开查阅点", "特定群体", "乡级"],
    ], before=["青石县民族宗教事务局基层政务公开标准目录"]),
    [
        K(["政策法规", "宗教政策"], ["website"], wd(20)),
        K(["宗教活动场所", "场所名录"], ["website", "reading_room"], wd(20)),
        K(["民族工作", "少数民族补助"], ["reading_room"], ev("review", 7)),
    ], 3, lambda g, p: p.write_text(text_a2_spaces(g), encoding="utf-8"),
))

# 38 — one cell per line (PDF copy) with 口 boxes, a row holding only its number, numbering that skips.
P = "青石县退役军人事务局"
H38 = [["序号", "公开事项", "", "公开内容", "公开时限", "公开渠道和载体"], ["", "一级事项", "二级事项", "", "", ""]]
CH38 = ["政府网站", "两微一端", "便民服务站"]


def b38(checked):
    return boxes(checked, CH38, on="■", off="口")


add(Cat(
    "38_tuiyijunren_a3_number_only_row.txt", ["A3", "D5", "E2"], P,
    Grid(H38, [
        ["1", "优待抚恤", "抚恤补助标准", "伤残抚恤金、定期抚恤金标准", "信息形成之日起20个工作日内", b38(["政府网站", "便民服务站"])],
        ["2", "", "", "", "", ""],
        ["4", "褒扬纪念", "烈士纪念设施", "烈士纪念设施名录、开放时间", "信息形成之日起20个工作日内", b38(["政府网站", "两微一端"])],
        ["5", "就业创业", "退役士兵安置", "安置计划、安置去向", "安置计划下达后10个工作日内", b38(["政府网站"])],
    ], before=["青石县退役军人事务局主动公开目录"]),
    [
        K(["优待抚恤", "抚恤补助标准"], ["website", "service_station"], wd(20)),
        None,
        K(["褒扬纪念", "烈士纪念设施"], ["website", "wechat"], wd(20)),
        K(["就业创业", "退役士兵安置"], ["website"], ev("!formed", 10), also=[wd(10)]),
    ], 3, lambda g, p: p.write_text(text_a3_lines(g), encoding="utf-8"),
    note="row 2 holds only its number (nothing to import); numbering skips 3",
))

# 39 — Word with content-control checkboxes (☒ checked, ☐ not), a 2-level header, merged cells.
P = "青石县商务局"
cols39 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None)]
h39, m39 = header2(cols39)
CH39 = ["政府网站", "两微一端", "政务服务中心"]


def b39(checked):
    return boxes(checked, CH39, on="☒", off="☐")


add(Cat(
    "39_shangwu_docx_content_controls.docx", ["D1", "E1"], P,
    Grid(h39, [
        ["1", "市场监管", "成品油经营", "成品油零售经营许可结果", "许可决定作出之日起7个工作日内", P, b39(["政府网站", "政务服务中心"])],
        ["", "", "单用途预付卡", "备案企业名单", "信息形成之日起20个工作日内", P, b39(["政府网站"])],
        ["2", "对外贸易", "外贸政策", "外贸扶持政策及申报指南", "与政策文件同步发布", P, b39(["政府网站", "两微一端"])],
    ], header_merges=m39, merge_cols=(1, 5), before=["青石县商务局主动公开目录"]),
    [
        K(["市场监管", "成品油经营"], ["website", "service_center"], ev("!formed", 7), also=[wd(7)]),
        K(["市场监管", "单用途预付卡"], ["website"], wd(20)),
        K(["对外贸易", "外贸政策"], ["website", "wechat"], rel()),
    ], 3, lambda g, p: write_docx(p, g),
))

# 40 — a saved page where the channel cell lists only the channels that apply, each as a paragraph with √.
P = "青石县文化和旅游局"
cols40 = [("序号", None), ("公开事项", "一级事项"), ("公开事项", "二级事项"), ("公开内容（要素）", None), ("公开时限", None),
          ("公开主体", None), ("公开渠道和载体", None)]
h40, m40 = header2(cols40)
add(Cat(
    "40_wenlv_html_tick_list.html", ["E1", "E3", "B1"], P,
    Grid(h40, [
        ["1", "旅游服务", "A级景区名录", "景区名称、等级、地址、开放时间", "信息形成之日起20个工作日内", P, "√政府网站\n√两微一端"],
        ["2", "文化市场", "行政处罚", "文化市场行政处罚决定", "作出决定之日起7个工作日内", P, "√政府网站"],
        ["3", "公共文化", "免费开放", "图书馆、文化馆免费开放项目", "信息形成之日起10个工作日内", P, "√政府网站\n√公开查阅点\n√便民服务站"],
    ], header_merges=m40),
    [
        K(["旅游服务", "A级景区名录"], ["website", "wechat"], wd(20)),
        K(["文化市场", "行政处罚"], ["website"], ev("!formed", 7), also=[wd(7)]),
        K(["公共文化", "免费开放"], ["website", "reading_room", "service_station"], wd(10)),
    ], 3, None,
))


def _write_40(g, p, P=P):
    body = (f'<div class="crumb">首页 &gt; 政务公开 &gt; 主动公开目录</div><div class="title">{P}主动公开目录</div>'
            f'<div class="meta">发布时间：2025-02-10 浏览：</div>\n{html_table(g)}\n<div class="tools">【打印】【关闭】</div>')
    p.write_text(html_page(f"{P}主动公开目录_青石县人民政府", body), encoding="utf-8")


CATALOGS[-1].write = _write_40

# 41 — an Excel sheet where 公开渠道和载体 is split into tick columns, one per channel.
P = "青石县医疗保障局"
H41 = [["序号", "公开事项", "", "公开内容", "公开时限", "公开渠道和载体", "", "", ""],
       ["", "一级事项", "二级事项", "", "", "政府网站", "两微一端", "公开查阅点", "村（居）公示栏"]]
add(Cat(
    "41_yibao_xlsx_channel_tick_columns.xlsx", ["C1", "D2"], P,
    Grid(H41, [
        ["1", "医保政策", "参保缴费", "参保范围、缴费标准、缴费方式", "信息形成之日起20个工作日内", "√", "√", "", ""],
        ["2", "医保待遇", "报销政策", "起付标准、报销比例、支付限额", "信息形成之日起20个工作日内", "√", "", "√", ""],
        ["3", "医疗救助", "救助对象", "医疗救助对象及救助金额", "审核通过后5个工作日内", "", "", "", "√"],
    ], header_merges=[(0, 0, 2, 1), (0, 1, 1, 2), (0, 3, 2, 1), (0, 4, 2, 1), (0, 5, 1, 4)], before=["青石县医疗保障局主动公开目录"]),
    [
        K(["医保政策", "参保缴费"], ["website", "wechat"], wd(20)),
        K(["医保待遇", "报销政策"], ["website", "reading_room"], wd(20)),
        K(["医疗救助", "救助对象"], ["bulletin_board"], ev("review", 5)),
    ], 3, lambda g, p: write_xlsx(p, g, "目录"),
    note="each channel is a column of its own, ticked where it applies",
))


# ---------------------------------------------------------------- output

FORMS = {".txt": "text", ".tsv": "text", ".csv": "csv", ".html": "html", ".docx": "docx", ".xlsx": "xlsx", ".xls": "xls", ".pdf": "pdf",
         ".doc": "doc"}


def _row_key(cat: Cat, k: K, content: str) -> dict:
    out: dict = {"id": k.id or compact(content)[:12], "path": k.path, "channels": k.channels, "time_limit": k.time_limit}
    if k.also:
        out["also"] = k.also
    out["keep_public"] = k.keep_public
    out["offices"] = k.offices
    if k.pending:
        out["pending"] = k.pending
    if k.optional:
        out["optional"] = k.optional
    out["warnings"] = k.warnings
    out["clear"] = k.clear
    if k.catalog:
        out["catalog"] = k.catalog
    if k.note:
        out["note"] = k.note
    return out


def key_for(cat: Cat) -> dict:
    rows = [_row_key(cat, k, row[cat.content_col]) for row, k in zip(cat.grid.rows, cat.keys, strict=True) if k is not None]
    rows += [_row_key(cat, k, "") for k in cat.extra]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), (cat.name, ids)
    return {
        "file": cat.name,
        "form": FORMS[Path(cat.name).suffix],
        "shapes": cat.shapes,
        "publisher": cat.publisher,
        **({"publishers": cat.publishers} if cat.publishers else {}),
        "import_args": cat.import_args,
        "outcome": cat.outcome,
        "note": cat.note,
        "rows": rows,
    }


def main() -> None:
    for cat in CATALOGS:
        target = HERE / cat.name
        written = cat.write(cat.grid, target)
        if written is False:
            print(f"kept committed {cat.name} (not regenerated)")
        key = HERE / (cat.name + ".key.yaml")
        header = ("# Answer key, written by hand in build.py from what each row says (see README.md).\n"
                  "# Generated by tests/data/catalog_corpus/build.py: edit the catalog there, not here.\n")
        key.write_text(header + yaml.safe_dump(key_for(cat), allow_unicode=True, sort_keys=False, width=200), encoding="utf-8")
    print(f"{len(CATALOGS)} catalogs, {sum(1 for c in CATALOGS for k in [*c.keys, *c.extra] if k and k.clear)} clear rows")


if __name__ == "__main__":
    main()

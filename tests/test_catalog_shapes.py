"""The importer on every text shape of ``catalog-shapes.md``, written here with rows of our own.

Each test renders one small catalog the way a shape flattens it and checks what a person reading the
table would take from it: the item path, the channels, the time-limit rule (and nothing invented).
"""

from __future__ import annotations

import pytest

from orchestrator.catalog.channel_map import load_channel_map
from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.importer import import_catalog, import_catalogs, publisher_from_title
from orchestrator.catalog.layout import classify_header

PUB = "某某县农业农村局"
TITLE = f"{PUB}政府信息主动公开目录"
HEAD = ["序号", "一级事项", "二级事项", "公开内容", "公开依据", "公开时限", "公开渠道和载体", "公开对象", "", "责任科室"]
SUB = ["", "", "", "", "", "", "", "全社会", "特定群体", ""]
ROWS = [
    ["1", "机构信息", "机构职能", "本局职能和内设机构设置情况", "《政府信息公开条例》", "信息形成之日起20个工作日内",
     "■政府网站 □政府公报 ■两微一端", "√", "", "办公室"],
    ["2", "政策文件", "规范性文件", "本局制定的规范性文件全文", "《政府信息公开条例》",
     "自该政府信息形成或者变更之日起20个工作日内及时公开", "■政府网站 ■政府公报 □两微一端", "√", "", "法规科"],
    ["3", "资金信息", "补贴发放", "补贴对象名单及发放标准", "《补贴资金管理办法》", "分配结果确定后20个工作日内",
     "■政府网站 ■村(居)公示栏", "", "√", "财务股"],
    ["4", "救助信息", "临时救助", "救助对象及救助金额", "《社会救助暂行办法》", "即时公开", "■政府网站 □两微一端", "√", "",
     "救助股"],
]
# code → (path, channels, kind, days, from)
KEY = {
    "01-01": ("机构信息/机构职能", ["website", "wechat"], "working_days", 20, "formed"),
    "02-01": ("政策文件/规范性文件", ["website", "gazette"], "working_days", 20, "formed"),
    "03-01": ("资金信息/补贴发放", ["website", "bulletin_board"], "after_event", 20, "分配结果确定"),
    "04-01": ("救助信息/临时救助", ["website"], "immediate", None, "formed"),
}


def check(cat, key=KEY, publisher=PUB):
    assert cat.publisher == publisher
    got = {e.code: (e.path_text, e.channels, e.time_limit.kind.value, e.time_limit.days, e.time_limit.from_) for e in cat.entries}
    assert got == key


def write(tmp_path, text: str, name: str = "c.txt"):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


# ---------------------------------------------------------------- A: how the grid was flattened


def test_a1_pipe_text_where_a_line_is_not_a_row(tmp_path):
    lines = [
        TITLE,
        "序号 | 一级事项 | 二级事项 | 公开内容 | 公开依据 | 公开时限 |",  # the header itself broken at a cell boundary
        "公开渠道和载体 | 公开对象 | 责任科室 | ||||",
        "全社会 | 特定群体 | ||||||||",
        "||||||",
    ]
    for r in ROWS:
        cells = [c for c in r if c]
        lines.append(" | ".join(cells[:4]) + " |")  # the row breaks after the content cell
        lines.append(" | ".join(cells[4:]) + " | ||||")
    check(import_catalog(write(tmp_path, "\n".join(lines))))


def test_a1_pipe_text_with_a_line_break_inside_a_cell(tmp_path):
    lines = [TITLE, " | ".join(HEAD), " | ".join(c for c in SUB if c)]
    for r in ROWS:
        cells = [c for c in r if c]
        cells[3] = cells[3][:4] + "\n" + cells[3][4:]  # the content wraps inside its cell
        lines.append(" | ".join(cells) + " |")
    check(import_catalog(write(tmp_path, "\n".join(lines))))


def test_a2_single_space_separated_with_words_broken(tmp_path):
    head = "序号 一级 事项 二级事项 公开内容 公开依据 公开 时限 公开渠道和载体 公开对象 责任科室"
    lines = [TITLE, head, "全社会 特定群体"]
    for r in ROWS:
        cells = [c for c in r if c]
        cells[3] = cells[3][:3] + " " + cells[3][3:]  # a space inside the content
        lines.append(" ".join(cells))
    check(import_catalog(write(tmp_path, "\n".join(lines))))


def test_a3_one_cell_per_line_rows_found_by_number(tmp_path):
    lines = [TITLE, *[h for h in HEAD if h], "全社会", "特定群体"]
    for r in ROWS:
        cells = [c for c in r if c]
        lines.extend([*cells[:3], cells[3][:6], cells[3][6:], *cells[4:]])  # the content wraps mid-word
    check(import_catalog(write(tmp_path, "\n".join(lines))))


def test_a4_paragraph_per_cell_with_blank_lines_and_options_per_paragraph(tmp_path):
    paras = ["首页 > 政务公开 > 基层政务公开", TITLE, *[h for h in HEAD if h], "全社会", "特定群体"]
    for r in ROWS:
        for i, c in enumerate(r):
            if i == 6:
                paras.extend(c.split(" "))  # one checkbox option per paragraph
            elif i in (7, 8) and not c:
                paras.append("\u00a0")  # a whitespace-only paragraph stands for an empty cell
            else:
                paras.append(c)
    paras += ["打印本页", "关闭窗口"]
    check(import_catalog(write(tmp_path, "\n\n".join(paras))))


def test_a5_cells_ending_in_bar_with_the_header_repeated_before_every_row(tmp_path):
    head = [f"{h} |" for h in HEAD if h] + ["全社会 |", "特定群体 |"]
    lines = [TITLE]
    for r in ROWS:
        lines += head
        lines += [f"{c} |" if c else "|" for c in r]
    check(import_catalog(write(tmp_path, "\n".join(lines))))


def test_a6_padded_cells_with_non_breaking_spaces(tmp_path):
    lines = [TITLE] + [f"  {h}\u00a0 " for h in HEAD if h] + ["  全社会 ", " 特定群体  "]
    for r in ROWS:
        lines += [f"\u00a0 {c}   " for c in r if c]
    check(import_catalog(write(tmp_path, "\n".join(lines))))


def test_a7_pdf_layout_text_fails_with_a_useful_message(tmp_path):
    lines = [TITLE, "序号   一级事项    二级事项     公开内容       公开时限      公开渠道和载体"]
    for n in range(1, 7):
        lines.append(f"0{n}05   信息{n}      事项{n}     内容内容{n}      20个工作    ■政府网站    □政府公报")
        lines.append("          类别      名称     续行文字      日内        ■两微一端    □公示栏")
    with pytest.raises(CatalogImportError) as err:
        import_catalog(write(tmp_path, "\n".join(lines)))
    assert "PDF" in str(err.value) and ("Word" in str(err.value) or "html" in str(err.value))


# ---------------------------------------------------------------- B: chrome, titles, several catalogs


def test_b1_page_chrome_before_and_after(tmp_path):
    chrome = ["跳转到主要内容区域", "无障碍浏览", "当前位置：首页 > 政务公开", "索引号：11xxxx/2024-00012", "发布日期：2024-03-01",
              "来源：本站", "点击数：123", TITLE]
    lines = chrome + ["\t".join(HEAD), "\t".join(SUB)] + ["\t".join(r) for r in ROWS] + ["打印 关闭", "主办单位：某某县人民政府"]
    check(import_catalog(write(tmp_path, "\n".join(lines))))


def test_b2_domain_title_gives_no_publisher_and_data_rows_never_do(tmp_path):
    lines = ["（十三）社会救助领域基层政务公开标准目录（试行）", "\t".join(HEAD), "\t".join(SUB)] + ["\t".join(r) for r in ROWS]
    f = write(tmp_path, "\n".join(lines))
    with pytest.raises(CatalogImportError, match="--publisher"):
        import_catalog(f)
    check(import_catalog(f, publisher="某某镇人民政府"), publisher="某某镇人民政府")
    assert publisher_from_title("盖州市民政局社会救助领域基层政务公开标准目录") == "盖州市民政局"
    assert publisher_from_title("社会救助领域基层政务公开标准目录（试行）") is None
    assert publisher_from_title("（十三）某某街道办事处公共文化服务领域基层政务公开标准目录") == "某某街道办事处"


def test_b3_several_catalogs_on_one_page_each_with_its_title(tmp_path):
    second = [["1", "项目信息", "项目审批", "审批结果", "《条例》", "批复后10个工作日内", "■政府网站", "√", "", "规划股"]]
    lines = [TITLE, "\t".join(HEAD), "\t".join(SUB), *("\t".join(r) for r in ROWS),
             "某某县住房和城乡建设局重大建设项目领域基层政务公开标准目录", "\t".join(HEAD), "\t".join(SUB), *("\t".join(r) for r in second)]
    result = import_catalogs(write(tmp_path, "\n".join(lines)))
    assert [c.title for c in result.catalogs] == [TITLE, "某某县住房和城乡建设局重大建设项目领域基层政务公开标准目录"]
    check(result.catalogs[0])
    assert [c.publisher for c in result.catalogs] == [PUB, "某某县住房和城乡建设局"]
    assert [e.path_text for e in result.catalogs[1].entries] == ["项目信息/项目审批"]
    assert "2 个目录" in result.catalogs[0].warnings[0]


# ---------------------------------------------------------------- C: headers


def test_c_header_labels_by_name_not_prefix():
    assert classify_header("事项类别") == "x:事项类别"
    assert classify_header("依据效力位阶") == "x:依据效力位阶"
    assert classify_header("公开 时限") == "time"
    assert classify_header("依申\n请公 开") == "method_request"
    assert classify_header("特定群众") == "audience_group"
    assert classify_header("乡、村级") == "lvl:乡、村级"
    assert classify_header("公开渠道和载体（■为必选项，口为可选项）") == "channels"
    assert classify_header("公开时限公开时限") == "time"  # printed twice
    assert classify_header("一级目录") == "dir1"
    assert classify_header("公开") == "wild"


def test_c1_three_row_header_and_extra_columns_kept(tmp_path):
    head1 = ["序号", "事项类别", "公开事项", "", "公开内容", "依据效力位阶", "公开时限", "公开渠道和载体", "公开方式", "", "备注"]
    head2 = ["", "", "一级事项", "二级事项", "", "", "", "", "主动", "依申请", ""]
    rows = [["1", "法定", "机构信息", "机构职能", "职能", "行政法规", "20个工作日内", "■政府网站", "√", "", "无"]]
    f = write(tmp_path, "\n".join([TITLE, "\t".join(head1), "\t".join(head2), *("\t".join(r) for r in rows)]))
    e = import_catalog(f).entries[0]
    assert e.path == ["机构信息", "机构职能"] and e.content == "职能" and e.channels == ["website"]
    assert e.extra == {"事项类别": "法定", "依据效力位阶": "行政法规", "备注": "无"}
    assert e.disclosure_method == "主动" and e.basis == ""


def test_c3_missing_seq_header_cell_while_rows_carry_numbers(tmp_path):
    head = [h for h in HEAD if h != "序号"]
    lines = [TITLE, "\t".join(head), "\t".join(SUB[1:])] + ["\t".join(r) for r in ROWS]
    check(import_catalog(write(tmp_path, "\n".join(lines))))


def test_c5_four_levels_and_numbered_items(tmp_path):
    head = ["一级目录", "一级事项", "二级事项", "三级事项", "公开内容", "公开时限", "公开渠道和载体"]
    rows = [["基础信息", "机构", "职能", "内设机构", "名称和职责", "20个工作日内", "■政府网站"]]
    f = write(tmp_path, "\n".join([TITLE, "\t".join(head), *("\t".join(r) for r in rows)]))
    e = import_catalog(f).entries[0]
    # 一级目录 above three 事项 levels is a category column, kept as an extra field; the path has the 事项 levels.
    assert e.path == ["机构", "职能", "内设机构"] and e.extra == {"一级目录": "基础信息"}
    head = ["序号", "公开事项", "公开内容", "公开时限", "公开渠道和载体"]
    rows = [["1", "1.公共文化设施", "", "", ""], ["2", "1.1开放时间", "开放时间安排", "即时公开", "■政府网站"],
            ["3", "1.2免费项目", "免费项目目录", "20个工作日内", "■政府网站"]]
    f = write(tmp_path, "\n".join([TITLE, "\t".join(head), *("\t".join(r) for r in rows)]))
    assert [e.path for e in import_catalog(f).entries] == [["公共文化设施", "开放时间"], ["公共文化设施", "免费项目"]]


# ---------------------------------------------------------------- D: rows


def test_d5_last_row_cut_off_is_flagged_not_completed(tmp_path):
    lines = [TITLE, " ".join(h for h in HEAD if h), "全社会 特定群体"]
    lines += [" ".join(c for c in r if c) for r in ROWS]
    lines.append("5 资金信息 项目资金 项目资金的安排")  # the file ends mid-row
    cat = import_catalog(write(tmp_path, "\n".join(lines)))
    last = cat.entries[-1]
    assert last.incomplete is True and any("截断" in w for w in last.warnings)
    assert last.channels == [] and last.time_limit.kind.value == "unknown" and "channels" not in last.inherited


# ---------------------------------------------------------------- E: channels


@pytest.mark.parametrize(
    ("wording", "code"),
    [("1.政府网站", "website"), ("高新区(掇刀区)政府网站", "website"), ("发布会听证会", "press"), ("其他法律服务网", "other"),
     ("门户网站、", "website")],
)
def test_e3_channel_wordings_now_known(wording, code):
    assert load_channel_map().match(wording.rstrip("、")) == code


@pytest.mark.parametrize(
    ("wording", "code"),
    [("征地信息公开平台", "website"), ("公共资源交易平台", "website"), ("纸质载体", "print"), ("政府服务中心", "service_center")],
)
def test_e4_unknown_wordings_get_a_proposal_not_a_mapping(wording, code):
    cmap = load_channel_map()
    assert cmap.match(wording) is None
    assert cmap.propose(wording)[0] == code


def test_e4_unknown_wording_warns_and_proposes_in_the_import(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[0][6] = "■政府网站 ■征地信息公开平台 注：涉密信息除外"
    lines = [TITLE, "\t".join(HEAD), "\t".join(SUB)] + ["\t".join(r) for r in rows]
    result = import_catalogs(write(tmp_path, "\n".join(lines)))
    e = result.catalogs[0].entries[0]
    assert e.channels == ["website"]
    assert any("征地信息公开平台" in w and "建议映射" in w for w in e.warnings)
    assert any("注：涉密信息除外" in w for w in e.warnings)
    assert result.proposals["征地信息公开平台"]["code"] == "website"
    assert any("征地信息公开平台" in line for line in result.review)


def test_e5_marks_mean_mandatory_and_optional(tmp_path):
    head = ["序号", "公开事项", "公开内容", "公开时限", "公开渠道和载体（■为必选项，口为可选项）"]
    rows = [["1", "危房改造", "改造对象名单", "20个工作日内", "■政府网站 口两微一端"]]
    cat = import_catalog(write(tmp_path, "\n".join([TITLE, "\t".join(head), *("\t".join(r) for r in rows)])))
    e = cat.entries[0]
    assert e.channels == ["website", "wechat"]
    assert any("可选" in w and "两微一端" in w for w in e.warnings)


# ---------------------------------------------------------------- F: time limits


@pytest.mark.parametrize(
    ("text", "kind", "days", "start", "keep", "posting"),
    [
        ("自该政府信息形成或者变更之日起20个工作日内及时公开", "working_days", 20, "formed", False, None),
        ("分配结果确定后20个工作日内", "after_event", 20, "分配结果确定", False, None),
        ("永久公开", "unknown", None, None, True, None),
        ("信息形成之日起10个工作日内公开，公示期不少于7个工作日", "working_days", 10, "formed", False, 7),
        ("执法决定信息在作出决定之日起7个工作日内公开，其他信息20个工作日内公开", "unknown", None, None, False, None),
    ],
)
def test_f_time_limits(text, kind, days, start, keep, posting):
    from orchestrator.catalog.timelimit import parse_time_limit

    rule, keep_public, warnings = parse_time_limit(text)
    assert (rule.kind.value, rule.days, rule.from_, keep_public, rule.posting_days) == (kind, days, start, keep, posting)
    assert bool(warnings) == (kind == "unknown")


def test_f_same_as_above_takes_the_previous_rule_and_is_flagged(tmp_path):
    rows = [list(r) for r in ROWS[:1]] + [["", "", "领导信息", "领导分工", "", "同上", "", "", "", ""]]
    cat = import_catalog(write(tmp_path, "\n".join([TITLE, "\t".join(HEAD), "\t".join(SUB), *("\t".join(r) for r in rows)])))
    e = cat.entries[1]
    assert (e.time_limit.kind.value, e.time_limit.days) == ("working_days", 20)
    assert any("同上" in w for w in e.warnings)


def test_every_entry_points_at_its_source_lines(tmp_path):
    lines = [TITLE, " | ".join(HEAD), " | ".join(c for c in SUB if c)]
    for r in ROWS:
        cells = [c for c in r if c]
        lines.append(" | ".join(cells[:4]) + " |")
        lines.append(" | ".join(cells[4:]) + " |")
    result = import_catalogs(write(tmp_path, "\n".join(lines)))
    first = result.catalogs[0].entries[0]
    assert first.source_lines == [4, 5]
    assert "机构职能" in result.source_rows[4] and "办公室" in result.source_rows[5]


def test_cli_json_keeps_its_contract_and_lists_the_catalogs_of_a_page(tmp_path):
    import json

    from typer.testing import CliRunner

    from orchestrator.cli import app

    second = [["1", "项目信息", "项目审批", "审批结果", "《条例》", "批复后10个工作日内", "■政府网站 ■征地信息公开平台", "√", "", "规划股"]]
    lines = [TITLE, "\t".join(HEAD), "\t".join(SUB), *("\t".join(r) for r in ROWS),
             "某某县住房和城乡建设局重大建设项目领域基层政务公开标准目录", "\t".join(HEAD), "\t".join(SUB), *("\t".join(r) for r in second)]
    f = write(tmp_path, "\n".join(lines))
    result = CliRunner().invoke(app, ["catalog", "import", str(f), "--json", "--part", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"publisher", "entries", "warnings", "review"} <= set(data)  # the contract as before
    assert data["publisher"] == "某某县住房和城乡建设局" and [e["path"] for e in data["entries"]] == [["项目信息", "项目审批"]]
    assert [c["title"] for c in data["catalogs"]] == [TITLE, "某某县住房和城乡建设局重大建设项目领域基层政务公开标准目录"]
    assert data["proposals"]["征地信息公开平台"]["code"] == "website"
    assert data["entries"][0]["source_lines"] == [len(lines)]
    bad = CliRunner().invoke(app, ["catalog", "import", str(f), "--json", "--part", "3"])
    assert bad.exit_code == 1 and "只有 2 个目录" in bad.output


# ---------------------------------------------------------------- rows rebuilt by content (more shapes)


def test_d1_pipe_rows_that_drop_merged_cells_take_the_upper_level_from_above(tmp_path):
    lines = [
        TITLE,
        "| 一级目录 | 二级目录 | 公开内容 | 公开依据 | 公开时限 | 公开渠道和载体 | 责任科室 | ||",
        "| 政策 | 规范性文件 | 本局规范性文件 | 《条例》 | 信息形成之日起20个工作日内 | 门户网站、 | 办公室 | ||",
        "| 政策解读 | 文字解读、图解 |",  # the row breaks at a cell boundary; 政策 (merged) is not printed
        "《条例》 | 信息形成之日起20个工作日内 | 门户网站 | 办公室 | ||",
        "| 财政信息 | 部门预算 | 预算报表 | 《预算法》 | 批复后20日内 | 门户网站 | 财务科 | ||",
    ]
    cat = import_catalog(write(tmp_path, "\n".join(lines)))
    assert [(e.path_text, e.channels, e.time_limit.kind.value) for e in cat.entries] == [
        ("政策/规范性文件", ["website"], "working_days"),
        ("政策/政策解读", ["website"], "working_days"),
        ("财政信息/部门预算", ["website"], "after_event"),
    ]
    assert cat.entries[1].source_lines == [4, 5]


def test_e1_checkbox_list_printed_around_its_row_in_a_padded_pipe_grid(tmp_path):
    head = "序号 | 一级事项 | 二级事项 | 公开内容 | 公开时限 | 公开渠道和载体 | 责任科室 | ||"
    lines = [TITLE, head,
             "| | | | | ■政府网站 | | ||",
             "| | | | | □政府公报 | | ||",
             "1 | 机构信息 | 机构职能 | 本局职能 | 20个工作日内 | □两微一端 □广播电视 | 办公室 | ||",
             "| | | | | ■社区/企事业单位/ | | ||",
             "| | | | | 村公示栏 | | ||",
             head,
             "| | | | | □政府网站 | | ||",
             "2 | 资金信息 | 补贴发放 | 补贴名单 | 即时公开 | ■两微一端 | 财务股 | ||",
             "| | | | | □精准推送 | | ||"]
    cat = import_catalog(write(tmp_path, "\n".join(lines)))
    assert [(e.path_text, e.channels) for e in cat.entries] == [
        ("机构信息/机构职能", ["website", "bulletin_board"]),
        ("资金信息/补贴发放", ["wechat"]),
    ]


def test_e2_wingdings_letters_and_cells_between_lone_bars(tmp_path):
    cells = ["序号", "公开事项", "公开内容", "公开时限", "公开渠道和载体", "公开对象",
             "1", "危房改造", "改造对象名单", "20工作日", "þ政府网站¨政府公报\n¨两微一端þ入户/现场", "",
             "2", "补贴发放", "补贴标准", "即时公开", "¨政府网站þ政府公报", "√"]
    text = TITLE + "\n" + "\n|\n".join(cells) + "\n|\n标准目录要素说明：\n1.公开事项名称是……"
    cat = import_catalog(write(tmp_path, text))
    assert [(e.path_text, e.channels, e.time_limit.kind.value, e.time_limit.days) for e in cat.entries] == [
        ("危房改造", ["website", "onsite"], "working_days", 20),
        ("补贴发放", ["gazette"], "immediate", None),
    ]


def test_c5_every_level_numbered_and_a_cut_label(tmp_path):
    cells = ["序号", "事项类型", "一级 事项", "二级 事项", "公开内容", "公开时限", "公开", "公开渠道和载体",
             "1", "", "1. 公共服务", "1.1演出活动查询", "剧目名称", "20个工作日内", "区文化旅游委", "■政府网站□政府公报",
             "2", "", "1.2图书借阅", "1.机构名称", "即时公开", "区文化旅游委", "■政府网站"]
    text = TITLE + "\n" + "\n".join(f"{c} |" if c else "|" for c in cells)
    cat = import_catalog(write(tmp_path, text))
    assert [(e.path, e.content, e.publisher) for e in cat.entries] == [
        (["公共服务", "演出活动查询"], "剧目名称", "区文化旅游委"),
        (["公共服务", "图书借阅"], "1.机构名称", "区文化旅游委"),
    ]


def test_f_schedules_and_counts_before_an_event_stay_untyped():
    from orchestrator.catalog.timelimit import parse_time_limit

    for text in ("每半年公开一次", "采购活动开始前30日", "公示期7天"):
        rule, _, warnings = parse_time_limit(text)
        assert rule.kind.value == "unknown" and warnings, text
    rule, _, _ = parse_time_limit("文件印发之日起20个工作日内")
    assert (rule.kind.value, rule.days, rule.from_) == ("working_days", 20, "formed")


def test_d2_ticks_pushed_onto_their_own_lines_are_not_assigned_to_a_guessed_column(tmp_path):
    lines = [
        "(一)某某领域基层政务公开标准目录 |",
        "序 号 | 公开事项 | 公开内容 | 公开时限 | 公开主 体 | 公开渠道和载体 | 公开对象 | 公开方式 |",
        "一级事 项 | 二级事 项 | 全社 会 | 特定 群众 | 主 动 | 依申请公开 |",
        "1 | 征收土 地信息 | 征地公告 | 征地公告全文 | 信息形成20个工 作日内公开 | 某某街道办事处 | ■政府网站 | √ |",
        "| √ |",
    ]
    e = import_catalog(write(tmp_path, "\n".join(lines))).entries[0]
    assert (e.path, e.channels, e.time_limit.days, e.publisher) == (["征收土地信息", "征地公告"], ["website"], 20, "某某街道办事处")
    assert e.audience == "" and e.disclosure_method == ""
    assert any("全社会" in w and "勾" in w for w in e.warnings) and any("主动" in w for w in e.warnings)


def test_e_channel_names_as_ticked_sub_columns(tmp_path):
    head1 = ["序号", "一级事项", "二级事项", "公开内容", "公开时限", "公开渠道和载体", "", ""]
    head2 = ["", "", "", "", "", "政府网站", "两微一端", "村（居）公示栏"]
    rows = [["1", "医保政策", "参保缴费", "参保范围", "20个工作日内", "√", "√", ""],
            ["2", "医疗救助", "救助对象", "救助金额", "即时公开", "", "", "√"]]
    cat = import_catalog(write(tmp_path, "\n".join([TITLE, *("\t".join(r) for r in [head1, head2, *rows])])))
    assert [(e.path_text, e.channels) for e in cat.entries] == [
        ("医保政策/参保缴费", ["website", "wechat"]), ("医疗救助/救助对象", ["bulletin_board"])]

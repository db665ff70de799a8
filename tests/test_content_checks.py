"""Content checks without a database: the Aho-Corasick matcher (overlaps, longest match, normalisation, HTML, leaders)
and the dictionary files (formats, malformed and hostile input, the starter dictionary's facts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.checks import dictionary as dic
from orchestrator.checks.gate import evaluate
from orchestrator.checks.matcher import EntrySpec, Matcher, html_text

ROOT = Path(__file__).resolve().parent.parent


def m(*entries: EntrySpec) -> Matcher:
    return Matcher(list(entries), 1)


def terms(hits) -> list[str]:
    return [h.term for h in hits]


def test_longest_match_wins_and_partial_overlaps_are_both_reported():
    mat = m(EntrySpec("renamed", "国家旅游局", "文化和旅游部"), EntrySpec("typo", "旅游局", "（测试）"),
            EntrySpec("typo", "既使", "即使"), EntrySpec("typo", "使按装", "（测试）"))
    hits = mat.check("原国家旅游局发布；既使按装完毕")
    # 旅游局 lies wholly inside 国家旅游局: only the longer is reported. 既使 / 使按装 overlap partly: both are.
    assert terms(hits) == ["国家旅游局", "既使", "使按装"]
    assert [h.position for h in hits] == [1, 9, 10]
    assert hits[0].category == "renamed" and hits[0].suggestion == "文化和旅游部"


def test_full_width_half_width_case_and_whitespace_are_ignored_but_not_line_boundaries():
    mat = m(EntrySpec("sensitive", "ABC测试", "", "block"), EntrySpec("renamed", "国土资源部", "自然资源部"))
    hits = mat.check("见ＡＢＣ　测 试，以及 abc测试；国土\t资源 部")
    assert terms(hits) == ["ＡＢＣ　测 试", "abc测试", "国土\t资源 部"]  # reported as written
    assert hits[0].severity == "block"
    assert mat.check("国土资源\n部") == []  # a line or paragraph boundary is never crossed


def test_html_tags_entities_and_scripts_are_ignored():
    mat = m(EntrySpec("renamed", "国土资源部", "自然资源部"), EntrySpec("typo", "既使", "即使"))
    body = ('<p>根据<b>国土</b><span class="x">资源部</span>通知&nbsp;</p><script>var a="既使";</script>'
            '<p title="既使">正文</p><!-- 既使 -->')
    text = html_text(body)
    assert "<" not in text and "var a" not in text
    hits = mat.check_document("", body)
    assert terms(hits) == ["国土资源部"] and hits[0].field == "正文"
    # Block ends are boundaries, inline tags are not.
    assert mat.check_document("", "<p>国土资源</p><p>部</p>") == []
    assert terms(mat.check_document("标题里的既使", "<p>x</p>")) == ["既使"]
    assert mat.check_document("标题里的既使", "")[0].field == "标题"


def test_context_and_position():
    mat = m(EntrySpec("typo", "按装", "安装"))
    text = "一" * 30 + "按装" + "二" * 30
    (hit,) = mat.check(text)
    assert hit.position == 30 and hit.length == 2
    assert hit.context == "…" + "一" * 15 + "【按装】" + "二" * 15 + "…"
    assert "应为“安装”" in hit.describe() and "【警告·错别字】" in hit.describe()


def test_allow_entries_hide_what_they_contain():
    mat = m(EntrySpec("renamed", "卫生部", "国家卫生健康委员会"), EntrySpec("allow", "卫生部门"))
    assert terms(mat.check("各级卫生部门；原卫生部")) == ["卫生部"]
    assert mat.check("卫生部门") == []


def test_leader_wrong_title_and_misspelt_name():
    mat = m(EntrySpec("leader", "张三", "市长", "warn", variants=["张叁"]),
            EntrySpec("leader", "李四", "常务副市长", "block"))
    assert mat.check("张三市长出席。市长张三讲话。") == []
    hits = mat.check("张三副市长出席")
    assert terms(hits) == ["张三副市长"] and "张三的职务为市长" in hits[0].message and hits[0].severity == "warn"
    assert terms(mat.check("副市长张三讲话")) == ["副市长张三"]  # not hidden by the correct "市长张三" inside it
    assert terms(mat.check("区长张三")) == ["区长张三"]
    hits = mat.check("张叁市长")
    assert terms(hits) == ["张叁"] and "应为“张三”" in hits[0].message
    assert mat.check("常务副市长李四") == []
    (hit,) = mat.check("副市长李四")  # inside "常务副市长李四" it would be right; alone it is a wrong title
    assert hit.severity == "block" and "李四的职务为常务副市长" in hit.message


def test_severity_outcomes():
    mat = m(EntrySpec("sensitive", "违禁词", "", "block"), EntrySpec("typo", "既使", "即使", "warn"),
            EntrySpec("typo", "帐号", "账号", "note"))
    hits = mat.check_document("标题", "<p>违禁词，既使，帐号</p>")
    out = evaluate(hits, confirmed=True)
    assert len(out.errors) == 1 and "内容检查不通过" in out.errors[0][1] and out.errors[0][0] == "正文"
    assert [h.term for h in out.acknowledged] == ["既使"]
    out = evaluate([h for h in hits if h.severity != "block"], confirmed=False)
    assert any("内容检查警告" in msg for _, msg in out.errors) and not out.acknowledged
    assert any("内容检查提示" in w for w in out.warnings)
    out = evaluate([h for h in hits if h.severity == "note"], confirmed=False)
    assert out.errors == [] and out.warnings


def test_an_empty_dictionary_matches_nothing():
    assert Matcher([], 0).check_document("任何标题", "<p>任何正文</p>") == []


# --- files ------------------------------------------------------------------------------------------

def test_yaml_csv_and_txt_formats():
    yaml_text = """version: 1
terms:
  - {category: 机构更名, term: 国土资源部, suggestion: 自然资源部, severity: 警告, since: 2018-03-17}
  - {category: leader, term: 张三, suggestion: 市长、市委副书记, variants: [张叁]}
"""
    a, b = dic.parse_file("x.yaml", yaml_text.encode())
    assert (a.category, a.severity, a.since.isoformat()) == ("renamed", "warn", "2018-03-17")
    assert b.category == "leader" and b.variants == ["张叁"] and b.severity == "warn"
    csv_text = "类别,词语,建议,级别\n错别字,既使,即使,提示\nsensitive,违禁词,,\n"
    rows = dic.parse_file("x.csv", csv_text.encode("gb18030"))  # GB18030 from Excel is accepted
    assert [(r.category, r.term, r.severity) for r in rows] == [("typo", "既使", "note"), ("sensitive", "违禁词", "block")]
    rows = dic.parse_file("x.txt", "# 注释\n按装\t安装\n布署=>部署\n\n".encode(), category="typo", severity="warn")
    assert [(r.term, r.suggestion) for r in rows] == [("按装", "安装"), ("布署", "部署")]


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("x.yaml", "terms: [\n  {category: typo", "YAML 格式不正确"),
    ("x.yaml", "a: &x [1]\nterms: *x\n", "锚点或别名"),
    ("x.yaml", "just a string", "terms:"),
    ("x.yaml", "terms: " + "[" * 5_000 + "]" * 5_000, "嵌套层次过深"),
    ("x.yaml", "terms:\n  - {category: 火星, term: 测试}\n", "类别“火星”不正确"),
    ("x.yaml", "terms:\n  - {category: typo, term: 测试, severity: 致命}\n", "级别“致命”不正确"),
    ("x.yaml", "terms:\n  - {category: typo, term: 测}\n", "太短"),
    ("x.yaml", "terms:\n  - {category: typo, term: 测试, since: 2018-13-01}\n", "起始日期"),
    ("x.yaml", "terms:\n  - {category: typo, term: 测试, evil: 1}\n", "不认识的字段"),
    ("x.yaml", "terms:\n  - {category: leader, term: 张三}\n", "未填写职务"),
    ("x.yaml", "terms:\n  - {category: typo, term: [a, b]}\n", "词语应为文字"),
    ("x.yaml", "terms:\n  - {category: typo, term: 测试}\n  - {category: typo, term: 测　试}\n", "重复"),
    ("x.yaml", "terms:\n  - {category: typo, term: '" + "长" * 101 + "'}\n", "过长"),
    ("x.csv", "foo,bar\n1,2\n", "至少含 category"),
    ("x.csv", "category,term\ntypo,测试,多余\n", "第 2 行"),
    ("x.txt", "测试\n", "请选择类别"),
    ("x.exe", "MZ", "只能导入"),
    ("x.csv", "category,term\ntypo,测\x00试\n", "空字符"),
    ("x.csv", b"\xff\xfe\xfa\xfb\x81\x30", "无法识别文件编码"),
])
def test_malformed_and_hostile_files_are_refused_whole(name, data, expected):
    raw = data if isinstance(data, bytes) else data.encode()
    with pytest.raises(dic.DictionaryError) as exc:
        dic.parse_file(name, raw)
    assert expected in str(exc.value)


def test_oversized_and_too_many_entries_are_refused():
    with pytest.raises(dic.DictionaryError, match="文件过大"):
        dic.parse_file("x.txt", b"a" * (dic.MAX_IMPORT_BYTES + 1), category="typo")
    lines = "\n".join(f"词{i:06d}" for i in range(dic.MAX_IMPORT_ENTRIES + 5))
    with pytest.raises(dic.DictionaryError, match="词条过多"):
        dic.parse_file("x.txt", lines.encode(), category="typo")


def test_many_bad_lines_are_summarised():
    text = "category,term\n" + "".join(f"火星,词{i}\n" for i in range(60))
    with pytest.raises(dic.DictionaryError) as exc:
        dic.parse_file("x.csv", text.encode())
    assert len(exc.value.problems) == 60 and "另有 40 处错误未列出" in str(exc.value)


def test_csv_export_neutralises_formulas_and_round_trips():
    from orchestrator.checks.models import ContentCheckTerm

    rows = [ContentCheckTerm(category="sensitive", term="=HYPERLINK(1)", suggestion="", severity="block", note="",
                             variants=[], since=None),
            ContentCheckTerm(category="leader", term="张三", suggestion="市长", severity="warn", note="说明",
                             variants=["张叁", "章三"], since=None)]
    text = dic.export_csv(rows)
    assert "'=HYPERLINK(1)" in text and "张叁|章三" in text
    back = dic.parse_file("x.yaml", dic.export_yaml(rows).encode())
    assert [(e.category, e.term, e.variants) for e in back] == [("sensitive", "=HYPERLINK(1)", []),
                                                                 ("leader", "张三", ["张叁", "章三"])]


def test_starter_dictionary_parses_and_states_the_reforms():
    path = ROOT / "config" / "content_checks" / "starter.yaml"
    entries = dic.parse_file(path.name, path.read_bytes())
    renamed = {e.term: e for e in entries if e.category == "renamed"}
    assert renamed["国家工商行政管理总局"].suggestion == "国家市场监督管理总局"
    assert renamed["国土资源部"].suggestion == "自然资源部"
    assert renamed["国家卫生和计划生育委员会"].suggestion == "国家卫生健康委员会"
    assert renamed["环境保护部"].suggestion == "生态环境部"
    assert renamed["农业部"].suggestion == "农业农村部"
    assert renamed["文化部"].suggestion == renamed["国家旅游局"].suggestion == "文化和旅游部"
    assert renamed["国家安全生产监督管理总局"].suggestion == "应急管理部"
    assert renamed["中国银行保险监督管理委员会"].since.isoformat() == "2023-03-10"
    typos = {e.term: e.suggestion for e in entries if e.category == "typo"}
    assert typos["既使"] == "即使" and typos["按装"] == "安装" and typos["布署"] == "部署" and typos["凋查"] == "调查"
    mat = Matcher([EntrySpec(e.category, e.term, e.suggestion, e.severity) for e in entries], 1)
    # The allow entries keep ordinary words quiet; the old names themselves are found.
    assert mat.check("各级卫生部门、农业部门和文化部门认真部署") == []
    assert terms(mat.check("原农业部、国家工商行政管理总局的文件")) == ["农业部", "国家工商行政管理总局"]

"""Every entry of the seed catalog (根河市司法局) checked against the table as read by a person."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.catalog.importer import import_catalog
from orchestrator.catalog.loader import load_catalog

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "config" / "catalogs" / "sources" / "000_7b423e1979c7eb69.txt"

W20 = ("working_days", 20, None, "formed")
IMM = ("immediate", None, None, "formed")
S1 = ["website", "gazette", "bulletin_board", "targeted_push"]  # 规范性文件 row
S1b = ["website", "gazette", "targeted_push"]  # 意见征集及反馈 row (公示栏 not ticked)
WX = ["website", "wechat"]
BB = ["website", "wechat", "bulletin_board"]
OTH8 = ["website", "wechat", "bulletin_board", "other"]
OTH9 = ["website", "wechat", "reading_room", "bulletin_board", "other"]
ZF = "行政执法协调监督办公室"

# code, path, channels, offices, (kind, days, months, from), keep_public
EXPECTED = [
    ("01-01", "履职依据/规范性文件", S1, [ZF], W20, False),
    ("01-02", "履职依据/规范性文件立改废", S1, [ZF], W20, False),
    ("01-03", "履职依据/意见征集及反馈", S1b, [ZF], IMM, False),
    ("01-04", "履职依据/意见征集及反馈", S1b, [ZF], ("after_event", None, 1, "comment_period_end"), False),
    ("01-05", "履职依据/部门文件", S1b, ["办公室"], W20, False),
    ("01-06", "履职依据/政策解读", S1b, ["普法与依法治理办公室", "人民参与和促进法制办公室"],
     ("with_related", None, None, "related_document"), False),
    ("01-07", "履职依据/机构领导", ["website"], ["办公室"], W20, True),
    ("01-08", "履职依据/机关简介", ["website"], ["办公室"], W20, True),
    ("01-09", "履职依据/下属机构", ["website"], ["办公室"], W20, True),
    ("01-10", "履职依据/议事协调机构", ["website"], ["办公室"], W20, True),
    ("02-01", "部门会议", BB, ["办公室"], W20, True),
    ("03-01", "政府重点工作/年度重点工作分解", WX, ["办公室"], W20, True),
    ("03-02", "政府重点工作/政策落实", WX, ["办公室"], W20, True),
    ("03-03", "政府重点工作/督查督办", WX, ["办公室"], W20, True),
    ("04-01", "人事信息", ["website", "wechat", "other"], ["办公室"], IMM, False),
    ("05-01", "新闻发布", [], ["办公室"], IMM, False),
    ("06-01", "财政信息/财政预算决算", ["website"], ["办公室"], ("after_event", 20, None, "approval"), False),
    ("06-02", "财政信息/财政专项资金", ["website"], ["办公室"], W20, False),
    ("06-03", "财政信息/政府采购", ["website"], ["办公室"], IMM, False),
    ("07-01", "政府信息公开工作/政府信息公开指南", WX, ["办公室"], W20, False),
    ("07-02", "政府信息公开工作/政府信息公开年度报告", WX, ["办公室"], W20, False),
    ("08-01", "重点领域/公共法律服务体系建设", OTH8, ["公共法律服务办公室", "人民参与和促进法治办公室"], W20, True),
    ("08-02", "重点领域/统筹规划法治社会建设", OTH8, ["普法与依法治理办公室", "人民参与和促进法治办公室"], W20, True),
    ("08-03", "重点领域/行政执法协调监督工作", OTH8, [ZF], W20, True),
    ("09-01", "其他相关信息/工作动态", OTH9, ["办公室"], W20, False),
    ("09-02", "其他相关信息/计划总结", OTH9, ["办公室"], W20, False),
    ("09-03", "其他相关信息/预测预报应急管理", OTH9, ["办公室"], IMM, False),
    ("09-04", "其他相关信息/建议提案", OTH9, ["办公室"], ("after_event", None, None, "review"), False),
]


@pytest.fixture(scope="module")
def seed():
    return import_catalog(SEED)


def test_seed_publisher_and_entry_count(seed):
    assert seed.publisher == "根河市司法局"
    assert [e.code for e in seed.entries] == [row[0] for row in EXPECTED]


@pytest.mark.parametrize("row", EXPECTED, ids=[r[0] for r in EXPECTED])
def test_seed_entry(seed, row):
    code, path, channels, offices, (kind, days, months, start), keep = row
    e = seed.find(code)
    assert e.path_text == path
    assert e.channels == channels
    assert e.offices == offices
    assert (e.time_limit.kind.value, e.time_limit.days, e.time_limit.months, e.time_limit.from_) == (kind, days, months, start)
    assert e.keep_public is keep
    assert e.publisher == "根河市司法局"
    assert e.content  # every row of the table has content


def test_seed_special_rules(seed):
    budget = seed.find("06-01").time_limit
    assert budget.counting == "calendar_days" and budget.text == "本级政府财政部门批复后20日内"
    assert seed.find("09-04").time_limit.text == "市本级督查室审核后公开"


def test_seed_news_release_flagged_not_filled(seed):
    e = seed.find("05-01")
    assert e.channels == [] and e.channel_labels == []
    assert any("公开渠道" in w for w in e.warnings)
    assert any("公开对象" in w for w in e.warnings)
    assert e.audience == ""


def test_seed_cut_off_channel_list_flagged(seed):
    for code in ("07-01", "07-02"):
        assert any("截断" in w for w in seed.find(code).warnings)


def test_seed_other_without_name_flagged_and_labels(seed):
    e = seed.find("04-01")
    assert e.channel_labels == ["政府网站", "两微一端", "其他"]
    assert any("其他" in w for w in e.warnings)


def test_seed_inheritance_recorded_within_section_only(seed):
    assert seed.find("01-01").inherited == []
    assert set(seed.find("01-08").inherited) == {"time_limit", "publisher", "channels", "audience", "offices"}
    assert "time_limit" not in seed.find("01-04").inherited  # it has its own time limit
    assert "channels" in seed.find("01-04").inherited
    assert seed.find("02-01").inherited == []


def test_seed_broken_words_rejoined(seed):
    assert seed.find("01-03").content.startswith("涉及公民、法人、其他组织权力义务的规范性文件征求意见公告")
    assert "规范性文件目录" in seed.find("01-02").content
    assert seed.find("01-05").content == "根河市司法局印发的主动公开文件"


def test_seed_clean_entries_have_no_warnings(seed):
    flagged = {e.code for e in seed.entries if e.warnings}
    assert flagged == {"04-01", "05-01", "07-01", "07-02", "08-01", "08-02", "08-03", "09-01", "09-02", "09-03", "09-04"}


def test_reviewed_catalog_matches_fresh_import(seed):
    reviewed = load_catalog(ROOT / "config" / "catalogs" / "genhe-sfj.yaml", strict=True)
    assert [(e.code, e.path, e.channels, e.offices, e.time_limit, e.keep_public) for e in reviewed.entries] == [
        (e.code, e.path, e.channels, e.offices, e.time_limit, e.keep_public) for e in seed.entries
    ]

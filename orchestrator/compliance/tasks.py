"""Beat tasks of the compliance watch, sent by name (only Celery imports this module, through ``include=``)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from orchestrator.compliance import annual, inspection, linkcheck
from orchestrator.db import session_scope
from orchestrator.delivery.celery_app import app
from orchestrator.web.opscounts import fold

LINKCHECK = "orchestrator.linkcheck"
SELF_INSPECTION = "orchestrator.self_inspection"
FOLD_COUNTS = "orchestrator.fold_delivery_counts"
ANNUAL_STATS = "orchestrator.annual_stats"


@app.task(name=LINKCHECK)
def run_linkcheck(trigger: str = "beat") -> dict[str, int] | None:
    report = linkcheck.run_check(trigger)
    if report is None:
        return None
    return {"run": report.run_id, "pages": report.pages, "links": report.links, "problems": len(report.found)}


@app.task(name=SELF_INSPECTION)
def run_self_inspection(trigger: str = "monthly") -> int:
    return inspection.run(trigger=trigger, user="")


@app.task(name=FOLD_COUNTS)
def fold_delivery_counts() -> None:
    """Fold the trigger-maintained delivery counts even when nobody reads the dashboard (the deltas would pile up)."""
    with session_scope() as s:
        fold(s)


@app.task(name=ANNUAL_STATS)
def refresh_annual_stats(year: int | None = None) -> float:
    """Recount a year's publication and timeliness figures (default: the current Beijing year); returns seconds."""
    if year is None:
        year = dt.datetime.now(ZoneInfo("Asia/Shanghai")).year
    with session_scope() as s:
        return annual.cached_publication(s, annual.check_year(year), refresh=True)["seconds"]

"""Index numbers (索引号) under concurrent submissions: distinct and gap-free per publisher and year, on PostgreSQL."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from tests.api_helpers import PUBLISHER, configure, counts
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)

N, THREADS = 200, 8


def test_200_submissions_from_8_threads_get_gap_free_index_numbers(orch_env, redis_server, tmp_path, monkeypatch):
    from orchestrator.documents import submission

    configure(monkeypatch, tmp_path, redis_server.url, {"website": [{"name": "w", "adapter": "manual"}],
                                                        "reading_room": [{"name": "r", "adapter": "manual"}]})
    before = counts()

    def one(i: int) -> str:
        res = submission.submit({"entry": "03", "publisher": PUBLISHER, "title": f"并发{i}", "body": f"<p>{i}</p>",
                              "formed_on": "2026-03-02"}, enqueue=False)
        return res.index_no

    with ThreadPoolExecutor(THREADS) as pool:
        numbers = list(pool.map(one, range(N)))

    assert len(set(numbers)) == N
    pattern = re.compile(r"^11150000TEST0001X/2026-(\d{5})$")
    seq = sorted(int(pattern.match(n).group(1)) for n in numbers)
    assert seq == list(range(1, N + 1)), "index numbers must be gap-free"
    after = counts()
    assert after["documents"] - before["documents"] == N
    assert after["deliveries"] - before["deliveries"] == 2 * N

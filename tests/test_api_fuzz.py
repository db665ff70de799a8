"""Schema-based fuzzing of the REST API with schemathesis, on PostgreSQL, as an admin and as a clerk.

Every operation in ``/openapi.json`` gets generated requests that fit the schema (positive) and that break it
(negative); no answer may be a server error, and every status code and content type must be one the schema
documents. Bounded and deterministic (Hypothesis ``derandomize``) so it runs the same in CI in about a minute.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.test_api import api as api  # noqa: F401  (the API fixture: real PostgreSQL and Redis)
from tests.test_api import receiver  # noqa: F401

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")

# Per operation, per generation mode, per user. FUZZ_EXAMPLES=200 for a longer hunt by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))


def test_no_server_errors_and_documented_status_codes(api):
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

    # Something to find: a document with deliveries, so generated ids sometimes hit real rows.
    assert api.submit().status_code == 201
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    # The REST API; the kiosk and unsubscribe pages in the schema are HTML for people, tested elsewhere.
    operations = [op for op in (r.ok() for r in schema.get_all_operations()) if op.path.startswith("/api/")]
    assert len(operations) >= 12, [op.label for op in operations]
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    calls = {"n": 0}
    statuses: dict[int, int] = {}

    def fuzz(strategy, headers: dict[str, str]):
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=strategy)
        def run(case) -> None:
            calls["n"] += 1
            response = case.call_and_validate(headers=headers, checks=checks)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        return run
    failures: list[str] = []
    started = time.monotonic()
    for who in ("admin", "clerk"):
        headers = api.h(who)
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                run = fuzz(op.as_strategy(generation_mode=mode), headers)
                try:
                    run()
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # schemathesis raises an exception group; collect all, report all
                    failures.append(f"{who} {mode.value} {op.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    elapsed = time.monotonic() - started
    assert not failures, "\n\n".join(failures)
    assert calls["n"] >= len(operations) * 2 * 2, calls  # it really sent requests
    print(f"schemathesis: {calls['n']} requests over {len(operations)} operations in {elapsed:.1f} s; "
          f"status codes {sorted(statuses.items())}")
    # The requests reached the handlers: successes and validation refusals, not a wall of 401/429.
    assert statuses.get(200, 0) > 0 and statuses.get(422, 0) > 0, statuses
    from orchestrator import throttle

    assert throttle.active_lockouts() == []

"""Bare Celery baseline for bench/fanout.py: one task that makes exactly the HTTP call the http_push adapter makes.

Same Celery settings as the orchestrator (``orchestrator.delivery.celery_app.configure``) and the same broker (ORCH_BROKER_URL);
no database, no claim, no attempt log: the cost of the orchestrator is everything the full stack does beyond this.
"""

from __future__ import annotations

import json
import time

import requests
from celery import Celery

from channels.http_push import KEY_HEADER, SIGNATURE_HEADER, sign
from orchestrator.delivery.celery_app import configure

QUEUE = "bench.bare"

app = Celery("bench_bare")
configure(app)
app.conf.beat_schedule = {}


@app.task(name="bench.bare_push")
def bare_push(url: str, secret: str, key: str, payload: dict) -> int:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", KEY_HEADER: key, "X-Orch-Timestamp": str(int(time.time())),
               SIGNATURE_HEADER: sign(secret, body)}
    resp = requests.post(url, data=body, headers=headers, timeout=(5, 15))
    if not (200 <= resp.status_code < 300 or resp.status_code == 409):
        raise RuntimeError(f"receiver answered {resp.status_code}")
    return resp.status_code

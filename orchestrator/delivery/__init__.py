"""Delivery: the fan-out engine, its store, the sweeper and verification, and the Celery app that runs them."""

"""Celery tasks: small JSON arguments (ids), idempotent, calling sync.jobs."""

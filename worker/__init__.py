"""The Celery worker: core's grading pipeline plus persistence and retries."""

"""Business logic behind the API, the worker and the CLI (no FastAPI, no Celery here)."""

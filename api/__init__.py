"""The FastAPI front end: JSON API under /api/v1 (pages are added by api.pages)."""

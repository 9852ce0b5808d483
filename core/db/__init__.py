"""Persistence: the typed ORM models, engine/session factories and migrations."""

"""Alembic migrations of the tribeops schema, applied by ``tribeops db upgrade``."""

"""Storage: SQLAlchemy models, engines and sessions, migrations."""

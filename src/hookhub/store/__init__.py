"""The store: engine and sessions, SQLAlchemy models, repositories and migrations."""

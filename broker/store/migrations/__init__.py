"""The broker DB's Alembic migrations (env.py, versions/); broker.store.migrate runs them."""

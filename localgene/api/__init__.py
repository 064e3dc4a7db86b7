"""localgene's HTTP API: the gene service's REST endpoints over the local job store.

:func:`localgene.api.app.create_app` builds the FastAPI application; ``localgene serve`` runs it
on uvicorn. See ``docs/api.md``.
"""

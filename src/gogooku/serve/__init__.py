"""The ranking service (FastAPI): ``uvicorn gogooku.serve.app:app`` or ``gogooku serve``; see
``docs/operations.md``."""

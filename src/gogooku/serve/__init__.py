"""The ranking service (FastAPI): ``uvicorn --factory gogooku.serve.app:create_app`` or ``gogooku serve``; see
``docs/operations.md``."""

"""Helpers shared by the test folders (``from ..support.MODULE import NAME``).

Fixtures live in the conftest.py files (tests/conftest.py for those used by several folders);
the classes, functions and constants they and the tests share live here, once.
"""

"""Importers that fill the raw store from files instead of the J-Quants API."""

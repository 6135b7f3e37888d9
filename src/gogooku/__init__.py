"""gogooku: leak-free machine learning on Japanese equities from the J-Quants V2 API."""

__version__ = "0.1.0"

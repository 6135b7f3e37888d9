"""J-Quants API V2: endpoint catalogue, plans and the HTTP client."""

"""Model bundles (immutable, hash-verified copies of a trained run), the prediction job and its
store; see ``docs/operations.md``."""

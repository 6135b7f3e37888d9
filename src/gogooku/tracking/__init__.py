"""Experiment tracking: what a run folder holds, logged to MLflow (``[tracking]`` of the run
config; ``mlflow_log`` is the one module that imports MLflow), and the listing of the run
folders (``gogooku runs list``); ``docs/tracking.md``."""

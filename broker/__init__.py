"""crowd-broker: a self-hosted Ground Truth for the public crowd on Mechanical Turk."""

__version__ = "0.1.0"

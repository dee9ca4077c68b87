"""Developer tooling: local clusters and Prometheus for tests and the demo (not shipped)."""

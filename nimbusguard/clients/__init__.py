"""The only code that talks to clusters and Prometheus. Everything above gets typed results
and the error types of `errors`, never raw client exceptions."""

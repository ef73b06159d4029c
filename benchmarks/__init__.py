"""CAIO's benchmarks: ``python -m benchmarks`` (see docs/benchmarks.md).

Every scenario runs CAIO and its baseline in the same run, against the same
nats-server, and reports their ratio; absolute figures are context only.
"""

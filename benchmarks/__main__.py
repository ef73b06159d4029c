"""``python -m benchmarks``: run every scenario and write the report (see cli)."""

from benchmarks.cli import main

main()

"""rnnplay's benchmark suite: ``python -m benchmarks.run_all`` (see benchmarks/README.md)."""

"""Benchmarks (``storelens bench``): each part measures one side and writes its part of docs/benchmarks.md."""

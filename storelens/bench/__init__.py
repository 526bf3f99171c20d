"""Benchmarks (``storelens bench``): each part measures one side and writes its part of docs/benchmarks.md."""

# The parts, in the order ``--part all`` runs them (the parser offers them; nothing heavy is imported here).
PARTS = (
    "models",
    "gallery",
    "edge",
    "api",
    "commerce",
    "hq",
    "cli",
    "degradation",
    "gating",
    "counting",
    "members",
    "chain-year",
)

"""Wiring: one place per process (edge, store API, head office) that builds its parts in order and stops them."""

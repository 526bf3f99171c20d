"""Wiring: one place per process that builds its parts in order and stops them."""

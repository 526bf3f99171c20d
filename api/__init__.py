"""Store API: FastAPI service, the associate's iPad page and reports (later release)."""

"""The books, below both tiers: the schema, the event log, device tokens, the access log, ingest."""

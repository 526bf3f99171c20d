"""The store API: a box's books (events, commerce, access log, tokens), MQTT ingest, routers, iPad page, console."""

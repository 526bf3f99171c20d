"""The store API: a store box's books (events, commerce, access log, tokens), MQTT ingest, routers, iPad page."""

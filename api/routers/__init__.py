"""The store API's routers, one per resource."""

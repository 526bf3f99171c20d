"""The chain API's routers, one per resource: boxes, members, reports, the console's locale."""

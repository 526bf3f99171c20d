"""Transport: the seam, MQTT and AMQP behind it, local brokers for the demo and tests, broker files."""

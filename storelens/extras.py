"""What each deployable installs: the store box by default, head office, the demo and the SCRFD set as extras.

``pip install storelens`` is a store box (the edge and the store API); ``storelens[hq]`` adds head office
(``hq serve``: PostgreSQL and RabbitMQ's AMQP client), ``storelens[demo]`` the demo's fallback broker and photos,
``storelens[scrfd]`` the optional SCRFD detector set. A command that needs an extra that is not installed says so
in one line, naming it, before it starts anything.
"""

from __future__ import annotations

from importlib.util import find_spec

from storelens.errors import ConfigError

EXTRAS = {
    "hq": ("pika", "psycopg"),  # head office: RabbitMQ's AMQP client, PostgreSQL
    "postgresql": ("psycopg",),  # a store box whose api.database_url is PostgreSQL
    "demo": ("amqtt", "insightface"),  # the demo's broker where Mosquitto is not installed; its t1.jpg photo
    "scrfd": ("insightface",),  # SCRFD's decoder
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [m for m in EXTRAS[extra] if find_spec(m) is None]


def require_extra(extra: str, what: str) -> None:
    """Refuse ``what`` in one line when ``extra``'s modules are not installed.

    Raises:
        ConfigError: naming the extra and how to install it.
    """
    gone = missing(extra)
    if gone:
        raise ConfigError(
            f"{what} needs StoreLens's [{extra}] extra ({', '.join(gone)} not installed): "
            f"pip install 'storelens[{extra}]'"
        )

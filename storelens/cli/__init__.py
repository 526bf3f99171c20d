"""The shell: the ``storelens`` command (``main``), its subcommands (``cmd_*``), the demo, doctor: parse, call."""

"""The shell: the ``storelens`` command (``main``), its subcommands (``cmd_*``), benchmarks, demo, doctor, broker."""

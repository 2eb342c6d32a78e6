"""``python -m rclicks.cli``: the same as the ``rclicks`` command."""

from rclicks.cli import main

main()

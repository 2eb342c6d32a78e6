"""The rclicks leaderboard: submission bundles, their validation, and the server.

- :mod:`rclicks.leaderboard.benchmarks` — benchmark specs from ``registry.yaml`` and the
  reference instance lists the server checks coverage against;
- :mod:`rclicks.leaderboard.bundle` — the bundle format (a zip with a hashed MANIFEST) and its
  safe reading;
- :mod:`rclicks.leaderboard.validate` — every check, shared by ``rclicks submit`` (locally) and
  the server (against its own reference);
- :mod:`rclicks.leaderboard.submit` — ``rclicks submit``;
- :mod:`rclicks.leaderboard.db`, :mod:`rclicks.leaderboard.server`,
  :mod:`rclicks.leaderboard.pages` — ``rclicks leaderboard serve``.

See docs/leaderboard.md.
"""

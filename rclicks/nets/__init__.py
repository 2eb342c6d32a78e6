"""Neural networks of rclicks under their contract names (PyTorch needed only when a submodule
is imported): ``rclicks.nets.segnext.ClickabilityNet``. This package imports nothing, so
``import rclicks`` stays torch-free."""

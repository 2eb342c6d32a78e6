"""Neural networks used by rclicks (PyTorch needed only when a submodule is imported).

This package deliberately imports nothing, so ``import rclicks`` stays torch-free.
Import ``rclicks.nets.segnext`` explicitly to get :class:`ClickabilityNet`.
"""

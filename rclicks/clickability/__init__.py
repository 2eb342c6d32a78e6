"""The RClicks clickability model: the network in plain PyTorch (:mod:`.net`, also importable
as ``rclicks.nets.segnext``), its input pipeline (:mod:`.preprocess`), weights and options
(:mod:`.checkpoint`), the ``clickability`` simulator (:mod:`.simulator`) and training on real
clicks (:mod:`.training`). Importing this package imports no torch."""

"""Real clicks: the RClicks ``clicks.csv`` format matched to dataset samples
(:mod:`.clicks_csv`), and scoring simulators against them (:mod:`.scoring`, the work behind
``rclicks score-simulator``)."""

from rclicks.realclicks.clicks_csv import (
    CLICK_TYPES,
    COLUMNS,
    DEVICES,
    ClickSet,
    ClickTable,
    ClickTarget,
    canonical_dataset,
    check_prev_masks,
    error_mask,
    full_stem,
    instance_of,
    load_clicks,
    prev_mask_path,
    read_prev_mask,
    targets,
    write_clicks,
)

__all__ = [
    "CLICK_TYPES",
    "COLUMNS",
    "DEVICES",
    "ClickSet",
    "ClickTable",
    "ClickTarget",
    "canonical_dataset",
    "check_prev_masks",
    "error_mask",
    "full_stem",
    "instance_of",
    "load_clicks",
    "prev_mask_path",
    "read_prev_mask",
    "targets",
    "write_clicks",
]

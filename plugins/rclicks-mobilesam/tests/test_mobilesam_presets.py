"""registry.yaml's MobileSAM preset names the same file as the plugin."""

from pathlib import Path

from rclicks.plugins import load_registry

from rclicks_mobilesam.checkpoints import VARIANTS

REGISTRY = Path(__file__).resolve().parents[3] / "registry.yaml"


def test_preset_matches_the_plugin_table():
    p = load_registry(REGISTRY).presets["models"]["mobile-sam-vit-t"]
    variant = VARIANTS["vit_t"]
    assert p.plugin == "mobile-sam" and p.options == {}
    assert p.meta["checkpoint"] == variant.file_name
    assert p.meta["url"] == variant.url

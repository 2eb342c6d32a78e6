"""registry.yaml's HQ-SAM presets name the same files as the plugin."""

from pathlib import Path

from rclicks.plugins import load_registry

from rclicks_hqsam.checkpoints import VARIANTS

REGISTRY = Path(__file__).resolve().parents[3] / "registry.yaml"


def test_presets_match_the_plugin_table():
    presets = load_registry(REGISTRY).presets["models"]
    for name, variant in VARIANTS.items():
        p = presets[f"hq-sam-{name.replace('_', '-')}"]
        assert p.plugin == "hq-sam"
        assert p.options == {"variant": name}  # no published sha256 to pin
        assert variant.sha256 is None
        assert p.meta["checkpoint"] == variant.file_name
        assert p.meta["url"] == variant.url

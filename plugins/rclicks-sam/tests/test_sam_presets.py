"""registry.yaml's SAM presets name the same files and sums as the plugin."""

from pathlib import Path

from rclicks.plugins import load_registry

from rclicks_sam.checkpoints import VARIANTS

REGISTRY = Path(__file__).resolve().parents[3] / "registry.yaml"


def test_presets_match_the_plugin_table():
    presets = load_registry(REGISTRY).presets["models"]
    for name, variant in VARIANTS.items():
        p = presets[f"sam-{name.replace('_', '-')}"]
        assert p.plugin == "sam"
        assert p.options == {"variant": name, "sha256": variant.sha256}
        assert p.meta["checkpoint"] == variant.file_name
        assert p.meta["url"] == variant.url

"""registry.yaml's SAM 2 / 2.1 presets name the same files and sums as the plugin."""

from pathlib import Path

from rclicks_sam2.variants import VARIANTS

from rclicks.plugins import load_registry

REGISTRY = Path(__file__).resolve().parents[3] / "registry.yaml"


def test_presets_match_the_plugin_table():
    presets = load_registry(REGISTRY).presets["models"]
    assert len(VARIANTS) == 8
    for name, variant in VARIANTS.items():
        p = presets[name]
        assert p.plugin == "sam2"
        assert p.options == {"variant": name, "sha256": variant.sha256}
        assert p.meta["checkpoint"] == variant.filename
        assert p.meta["url"] == variant.url

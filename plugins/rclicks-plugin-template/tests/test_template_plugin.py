import json
import os
import subprocess
import sys

from rclicks_plugin_template import ColourClickModel

from rclicks.testing import check_model


def test_model_conforms_to_the_protocol():
    check_model(ColourClickModel())


def test_rclicks_lists_the_plugin():
    env = {**os.environ, "RCLICKS_LOAD_PLUGINS": "template"}
    out = subprocess.run(
        [sys.executable, "-m", "rclicks.cli", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    models = {m["name"]: m for m in json.loads(out.stdout)["models"]}
    assert models["template-colour"]["distribution"] == "rclicks-plugin-template"

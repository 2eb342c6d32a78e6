from rclicks_plugin_template import ColourClickModel

from rclicks.testing import check_model, listed


def test_model_conforms_to_the_protocol():
    check_model(ColourClickModel())


def test_rclicks_lists_the_plugin():
    models = listed("models", plugins="template")
    assert models["template-colour"]["distribution"] == "rclicks-plugin-template"

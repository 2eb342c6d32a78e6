from rclicks.plugins import hookimpl


def _geodesic(**options):
    from rclicks.models.geodesic import make_model

    return make_model(**options)


@hookimpl
def rclicks_register_models(register):
    register(
        "geodesic",
        _geodesic,
        description="weightless superpixel geodesic segmenter (the default model)",
    )

from rclicks.plugins import hookimpl


@hookimpl
def rclicks_register_simulators(register):
    from rclicks.simulators import BaselineSimulator, DistanceSimulator, UniformSimulator

    register("baseline", BaselineSimulator, description="robot: deepest point of largest error")
    register("uniform", UniformSimulator, description="uniform over the error region")
    register("distance", DistanceSimulator, description="density = distance transform of error")

    def clickability(**options):
        from rclicks.simulators_clickability import make_clickability

        return make_clickability(**options)

    register(
        "clickability",
        clickability,
        description="RClicks clickability network (needs clickability_model.pth)",
    )

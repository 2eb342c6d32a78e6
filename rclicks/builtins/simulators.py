from rclicks.plugins import hookimpl


@hookimpl
def rclicks_register_simulators(register):
    from rclicks.simulators import BaselineSimulator, DistanceSimulator, UniformSimulator

    register("baseline", BaselineSimulator, description="robot: deepest point of largest error")
    register("uniform", UniformSimulator, description="uniform over the error region")
    register("distance", DistanceSimulator, description="density = distance transform of error")

    def saliency(**options):
        from rclicks.simulators_saliency import make_saliency

        return make_saliency(**options)

    register(
        "saliency",
        saliency,
        description="saliency of the cut-out error crop (RClicks SM; cutout=false: SI)",
    )

    def clickability(**options):
        from rclicks.simulators_clickability import make_clickability

        return make_clickability(**options)

    register(
        "clickability",
        clickability,
        description="RClicks clickability network (needs clickability_model.pth)",
    )

    def users(clicks=None, input_device="all", dataset=None):
        from rclicks.simulators_users import UsersSimulator

        return UsersSimulator(clicks=clicks, input_device=input_device, dataset=dataset)

    register(
        "users",
        users,
        description="replay of real users' first clicks from an RClicks clicks.csv",
    )

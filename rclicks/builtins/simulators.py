from rclicks.plugins import hookimpl


@hookimpl
def rclicks_register_simulators(register):
    from rclicks.simulators import BaselineSimulator, DistanceSimulator, UniformSimulator

    register("baseline", BaselineSimulator, description="robot: deepest point of largest error")
    register("uniform", UniformSimulator, description="uniform over the error region")
    register("distance", DistanceSimulator, description="density = distance transform of error")

"""The built-in components, registered through the same hooks as third-party plugins. Each
factory is a ``"module:attr"`` target: nothing is imported until a component is built."""

from rclicks.plugins.hookspecs import hookimpl

DATA = "$RCLICKS_DATA/"


@hookimpl
def rclicks_register_models(register):
    register(
        "geodesic",
        "rclicks.models.geodesic:make_model",
        description="weightless superpixel geodesic segmenter (the default model)",
    )


@hookimpl
def rclicks_register_simulators(register):
    register(
        "baseline",
        "rclicks.simulators.basic:BaselineSimulator",
        description="robot: deepest point of largest error",
    )
    register(
        "uniform",
        "rclicks.simulators.basic:UniformSimulator",
        description="uniform over the error region",
    )
    register(
        "distance",
        "rclicks.simulators.basic:DistanceSimulator",
        description="density = distance transform of error",
    )
    register(
        "saliency",
        "rclicks.simulators.saliency:make_saliency",
        description="saliency of the cut-out error crop (RClicks SM; cutout=false: SI)",
    )
    register(
        "clickability",
        "rclicks.clickability.simulator:make_clickability",
        description="RClicks clickability network (needs clickability_model.pth)",
    )
    register(
        "tetris",
        "rclicks.simulators.tetris:TetrisSimulator",
        description="TETRIS robustness: tetris-min / tetris-max trajectories around the baseline",
    )
    register(
        "users",
        "rclicks.simulators.users:UsersSimulator",
        description="replay of real users' first clicks from an RClicks clicks.csv",
    )


@hookimpl
def rclicks_register_datasets(register):
    register(
        "folder",
        "rclicks.datasets.folder:FolderDataset",
        description="PATH/images/<stem>.{jpg,png} + PATH/masks/<stem>.png",
    )
    register(
        "demo",
        "rclicks.datasets.folder:demo_dataset",
        description="bundled procedurally generated scenes",
    )
    register(
        "GrabCut",
        "rclicks.datasets.ritm:GrabCutDataset",
        description=f"data_GT/ + boundary_GT/, 128 = ignore ({DATA}GrabCut)",
    )
    register(
        "Berkeley",
        "rclicks.datasets.ritm:BerkeleyDataset",
        description=f"images/ + masks/, 128 = ignore ({DATA}Berkeley)",
    )
    register(
        "DAVIS",
        "rclicks.datasets.ritm:DavisDataset",
        description=f"img/ + gt/, any channel > 0 = object ({DATA}DAVIS)",
    )
    register(
        "COCO_MVal",
        "rclicks.datasets.ritm:CocoMValDataset",
        description=f"img/ + gt/ like DAVIS ({DATA}COCO_MVal)",
    )
    register(
        "TETRIS",
        "rclicks.datasets.tetris:TetrisDataset",
        description=f"24-bit instance ids, long side ≤ 2048, split=all|train|val ({DATA}TETRIS)",
    )
    register(
        "SBD",
        "rclicks.datasets.sbd:SBDDataset",
        description=f"<split>.txt, img/*.jpg, inst/*.mat ({DATA}SBD)",
    )
    register(
        "PascalVOC",
        "rclicks.datasets.sbd:PascalVOCDataset",
        description=f"SegmentationObject palette PNGs, 255 = ignore ({DATA}PascalVOC)",
    )
    register(
        "coco-json",
        "rclicks.datasets.coco:CocoJsonDataset",
        description="COCO instances JSON (polygons, RLE) through pycocotools; crowd = ignore",
    )

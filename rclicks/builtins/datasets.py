from rclicks.plugins import hookimpl


def _folder(root, name=None):
    from rclicks.datasets import FolderDataset

    return FolderDataset(root, name=name)


def _demo(root=None):
    from rclicks.datasets import FolderDataset, demo_root

    return FolderDataset(root or demo_root(), name="demo")


def _grabcut(root=None, name=None):
    from rclicks.datasets.ritm import GrabCutDataset

    return GrabCutDataset(root, name)


def _berkeley(root=None, name=None):
    from rclicks.datasets.ritm import BerkeleyDataset

    return BerkeleyDataset(root, name)


def _davis(root=None, name=None):
    from rclicks.datasets.ritm import DavisDataset

    return DavisDataset(root, name)


def _coco_mval(root=None, name=None):
    from rclicks.datasets.ritm import CocoMValDataset

    return CocoMValDataset(root, name)


def _tetris(root=None, name=None, split="all", max_side=2048):
    from rclicks.datasets.tetris import TetrisDataset

    return TetrisDataset(root, name, split=split, max_side=max_side)


def _sbd(root=None, name=None, split="val"):
    from rclicks.datasets.sbd import SBDDataset

    return SBDDataset(root, name, split=split)


def _pascalvoc(root=None, name=None, split="val"):
    from rclicks.datasets.sbd import PascalVOCDataset

    return PascalVOCDataset(root, name, split=split)


def _coco_json(
    root,
    annotations="annotations.json",
    images="images",
    name=None,
    crowd="ignore",
    category_ids=None,
):
    from rclicks.datasets.coco import CocoJsonDataset

    return CocoJsonDataset(root, annotations, images, name, crowd, category_ids)


@hookimpl
def rclicks_register_datasets(register):
    register("folder", _folder, description="PATH/images/<stem>.{jpg,png} + PATH/masks/<stem>.png")
    register("demo", _demo, description="bundled procedurally generated scenes")
    data = "$RCLICKS_DATA/"
    register(
        "GrabCut", _grabcut, description=f"data_GT/ + boundary_GT/, 128 = ignore ({data}GrabCut)"
    )
    register("Berkeley", _berkeley, description=f"images/ + masks/, 128 = ignore ({data}Berkeley)")
    register("DAVIS", _davis, description=f"img/ + gt/, any channel > 0 = object ({data}DAVIS)")
    register("COCO_MVal", _coco_mval, description=f"img/ + gt/ like DAVIS ({data}COCO_MVal)")
    register(
        "TETRIS",
        _tetris,
        description=f"24-bit instance ids, long side ≤ 2048, split=all|train|val ({data}TETRIS)",
    )
    register("SBD", _sbd, description=f"<split>.txt, img/*.jpg, inst/*.mat ({data}SBD)")
    register(
        "PascalVOC",
        _pascalvoc,
        description=f"SegmentationObject palette PNGs, 255 = ignore ({data}PascalVOC)",
    )
    register(
        "coco-json",
        _coco_json,
        description="COCO instances JSON (polygons, RLE) through pycocotools; crowd = ignore",
    )

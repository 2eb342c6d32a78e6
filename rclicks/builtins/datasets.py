from rclicks.plugins import hookimpl


def _folder(root, name=None):
    from rclicks.datasets import FolderDataset

    return FolderDataset(root, name=name)


def _demo(root=None):
    from rclicks.datasets import FolderDataset, demo_root

    return FolderDataset(root or demo_root(), name="demo")


@hookimpl
def rclicks_register_datasets(register):
    register("folder", _folder, description="PATH/images/<stem>.{jpg,png} + PATH/masks/<stem>.png")
    register("demo", _demo, description="bundled procedurally generated scenes")

"""The folder layout on the loaders' base: one decode path (EXIF applied everywhere), one check
that names every bad file, one manifest; ``check_dataset`` for any dataset; ``find_sample``."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import rclicks.datasets as datasets_pkg
from rclicks.datasets import (
    CheckResult,
    FolderDataset,
    check_dataset,
    demo_dataset,
    demo_root,
    find_sample,
    render_sample,
)
from rclicks.datasets.ritm import GrabCutDataset
from rclicks.errors import DatasetError, RclicksError, UnknownNameError
from rclicks.types import Sample
from tests.test_datasets_trees import _image, write_exif_jpeg, write_folder

# EXIF orientation -> the numpy turn that shows the stored pixels upright
TURNS = {6: -1, 8: 1}  # 6: turn 90° clockwise; 8: 90° counter-clockwise


@pytest.mark.parametrize("orientation", sorted(TURNS))
def test_an_exif_rotated_jpeg_decodes_the_same_in_the_folder_and_grabcut_layouts(
    tmp_path, orientation
):
    h, w = 24, 40  # stored landscape; shown portrait
    stored = _image(h, w, 1)
    obj = np.zeros((w, h), bool)  # the mask is drawn on the picture as shown: w rows, h cols
    obj[5:20, 3:15] = True
    folder, grabcut = tmp_path / "folder", tmp_path / "GrabCut"
    for d in ("images", "masks"):
        (folder / d).mkdir(parents=True)
    for d in ("data_GT", "boundary_GT"):
        (grabcut / d).mkdir(parents=True)
    jpeg = write_exif_jpeg(folder / "images" / "photo.jpg", stored, orientation)
    shutil.copy(jpeg, grabcut / "data_GT" / "photo.jpg")
    Image.fromarray(obj.astype(np.uint8)).save(folder / "masks" / "photo.png")
    Image.fromarray(obj.astype(np.uint8) * 255).save(grabcut / "boundary_GT" / "photo.bmp")

    f, g = FolderDataset(folder), GrabCutDataset(grabcut)
    assert f.check() == [] and g.check() == []
    a, b = f[0], g[0]
    assert a.image.shape == (w, h, 3)  # EXIF applied: the shape is swapped
    assert np.array_equal(a.image, b.image)
    with Image.open(jpeg) as im:  # the stored pixels, decoded without looking at EXIF
        raw = np.asarray(im.convert("RGB"))
    assert raw.shape == (h, w, 3)
    assert np.array_equal(a.image, np.rot90(raw, TURNS[orientation]))
    assert not np.array_equal(a.image, np.rot90(raw, -TURNS[orientation]))
    # OpenCV's imread turns it the same way (its JPEG decoder may round a little differently)
    cv = cv2.cvtColor(cv2.imread(str(jpeg)), cv2.COLOR_BGR2RGB)
    assert cv.shape == a.image.shape
    assert np.abs(cv.astype(int) - a.image.astype(int)).mean() < 2
    assert np.array_equal(a.instances["1"], obj) and np.array_equal(b.instances["1"], obj)


def test_folder_samples_ids_instances_and_meta(tmp_path):
    root = write_folder(tmp_path / "mine", n=2)
    labels = np.zeros((40, 56), np.uint16)
    labels[2:9, 2:9], labels[20:30, 30:50] = 300, 7  # 16-bit ids; each value one instance
    Image.fromarray(labels).save(root / "masks" / "f1.png")
    ds = FolderDataset(root)
    assert ds.name == "mine" and ds.loader == "folder" and ds.prefetch_safe
    assert FolderDataset(root, name="x").name == "x"
    assert ds.sample_ids() == ["f0", "f1"] and len(ds) == 2
    s0, s1 = ds[0], ds[1]
    assert list(s0.instances) == ["1", "2"] and s0.ignore is None
    assert list(s1.instances) == ["7", "300"]
    assert np.array_equal(s1.instances["300"], labels == 300)
    assert s0.image.dtype == np.uint8 and s0.image.shape == (40, 56, 3)
    image, mask = root / "images" / "f0.png", root / "masks" / "f0.png"
    assert s0.meta == {"path": str(image), "image": str(image), "mask": str(mask)}
    assert [s.sample_id for s in ds] == ["f0", "f1"]


def test_folder_check_names_every_bad_file_and_gives_no_manifest(tmp_path):
    root = write_folder(tmp_path / "bad", n=7)
    img, masks = root / "images", root / "masks"
    (masks / "f0.png").unlink()  # missing mask
    (img / "f1.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")  # unreadable image
    Image.fromarray(np.ones((10, 12), np.uint8)).save(masks / "f2.png")  # wrong size
    Image.fromarray(np.zeros((40, 56), np.uint8)).save(masks / "f3.png")  # all background
    shutil.copy(img / "f4.png", img / "f4.jpg")  # duplicate stem
    Image.fromarray(np.zeros((40, 56, 3), np.uint8)).save(masks / "f5.png")  # RGB mask
    ds = FolderDataset(root)
    result = check_dataset(ds)
    assert isinstance(result, CheckResult) and not result.ok and result.manifest is None
    assert result.problems == [
        f"{root / 'images' / 'f4.png'}: same stem as f4.jpg (duplicate sample id)",
        f"{masks / 'f0.png'}: mask missing for image f0.png",
        f"{img / 'f1.png'}: unreadable image (cannot identify image file {str(img / 'f1.png')!r})",
        f"{masks / 'f2.png'}: mask is 12×10 but image f2.png is 56×40",
        f"{masks / 'f3.png'}: no object (mask is all background)",
        f"{masks / 'f5.png'}: mask must be single-channel (got mode RGB)",
    ]
    assert ds.sample_ids() == ["f0", "f1", "f2", "f3", "f4", "f5", "f6"]
    assert check_dataset(ds, limit=1).problems[1:] == [
        f"{masks / 'f0.png'}: mask missing for image f0.png"
    ]


def test_folder_without_images_fails_clearly_and_an_empty_one_is_a_problem(tmp_path):
    with pytest.raises(DatasetError) as err:
        FolderDataset(tmp_path / "nowhere")
    assert isinstance(err.value, RclicksError)
    assert err.value.problems == [f"{tmp_path / 'nowhere' / 'images'}: folder not found"]
    assert "ROOT/images/<stem>.<ext> + ROOT/masks/<stem>.png" in str(err.value)
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (problem,) = check_dataset(FolderDataset(tmp_path / "empty")).problems
    assert problem.startswith(f"{tmp_path / 'empty' / 'images'}: no images (*.jpg, *.jpeg, *.png")


def test_folder_manifest_is_stable_location_free_and_follows_the_bytes(tmp_path):
    a = write_folder(tmp_path / "a", n=3)
    first = check_dataset(FolderDataset(a)).manifest
    again = check_dataset(FolderDataset(a)).manifest
    assert first is not None and first["sha256"] == again["sha256"]
    assert first["loader"] == "folder" and (first["images"], first["instances"]) == (3, 6)
    rec = first["samples"][0]
    assert rec["files"]["image"]["path"] == "images/f0.png"
    assert rec["files"]["mask"]["path"] == "masks/f0.png"
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b)
    moved = check_dataset(FolderDataset(b, name="other")).manifest
    assert moved["sha256"] == first["sha256"] and moved["dataset"] == "other"
    labels = np.asarray(Image.open(b / "masks" / "f2.png")).copy()
    labels[0, 0] = 1  # one more pixel of instance 1: the same ids, other bytes
    Image.fromarray(labels).save(b / "masks" / "f2.png")
    changed = check_dataset(FolderDataset(b)).manifest
    assert changed["samples"][2]["instances"] == first["samples"][2]["instances"]
    assert changed["sha256"] != first["sha256"]


class MemoryDataset:
    """A plugin dataset with no files: just ``name``, ``__len__`` and ``__iter__``."""

    def __init__(self, name: str = "mem", value: int = 255, fail_at: int | None = None):
        self.name = name
        self.value = value
        self.fail_at = fail_at
        self.iterated = 0

    def __len__(self) -> int:
        return 3

    def __iter__(self):
        self.iterated += 1
        for i in range(3):
            if i == self.fail_at:
                raise RuntimeError("the server went away")
            img = np.full((8, 10, 3), i, np.uint8)
            m = np.zeros((8, 10), bool)
            m[2:5, 1 + i : 4 + i] = True
            img[m] = self.value
            yield Sample(f"m{i}", img, {"a": m}, None, {"note": "no files"})


def test_check_dataset_hashes_the_content_of_a_dataset_without_files():
    result = check_dataset(MemoryDataset())
    assert result.ok and result.problems == []
    man = result.manifest
    assert man["dataset"] == "mem" and man["loader"] == "MemoryDataset"
    assert [r["sample_id"] for r in man["samples"]] == ["m0", "m1", "m2"]
    assert all(r["files"] == {} and len(r["content_sha256"]) == 64 for r in man["samples"])
    assert len({r["content_sha256"] for r in man["samples"]}) == 3
    assert check_dataset(MemoryDataset("other")).manifest["sha256"] == man["sha256"]
    assert check_dataset(MemoryDataset(value=254)).manifest["sha256"] != man["sha256"]
    assert check_dataset(MemoryDataset(), limit=2).manifest["images"] == 2


def test_check_dataset_reports_a_failing_dataset_instead_of_raising():
    result = check_dataset(MemoryDataset(fail_at=1))
    assert result.manifest is None
    assert result.problems == ["mem: RuntimeError: the server went away"]

    class Broken(MemoryDataset):
        def __iter__(self):
            raise OSError("no such bucket")

    assert check_dataset(Broken()).problems == ["mem: OSError: no such bucket"]

    class NoInstance(MemoryDataset):
        def __iter__(self):
            return iter([Sample("e0", np.zeros((4, 4, 3), np.uint8), {})])

    assert check_dataset(NoInstance()).problems == ["e0: sample has no instances"]

    class Nothing(MemoryDataset):
        def __iter__(self):
            return iter([])

    assert check_dataset(Nothing()).problems == ["mem: no samples found"]
    assert check_dataset(Nothing(), limit=0).manifest["images"] == 0


def test_a_dataset_with_its_own_check_reports_its_problems_first():
    class Checked(MemoryDataset):
        def check(self, limit=None):
            self.limit_seen = limit
            return ["x.png: bad"]

    ds = Checked()
    result = check_dataset(ds, limit=2)
    assert result.problems == ["x.png: bad"] and result.manifest is None
    assert ds.limit_seen == 2 and ds.iterated == 0  # its problems stop the check there

    class OldCheck(MemoryDataset):
        def check(self):  # takes no limit
            return []

    old = OldCheck()
    result = check_dataset(old, limit=5)
    assert result.ok and result.manifest["images"] == 3 and old.iterated == 1

    class CheckRaises(MemoryDataset):
        def check(self, limit=None):
            raise TypeError("bug inside check")

    assert check_dataset(CheckRaises()).problems == ["mem: TypeError: bug inside check"]


def test_an_indexable_prefetch_safe_dataset_is_read_by_index_and_names_the_bad_sample(tmp_path):
    root = write_folder(tmp_path / "f", n=3)
    inner = FolderDataset(root)

    class Indexed:
        name = "idx"
        prefetch_safe = True
        root = inner.root

        def __len__(self):
            return len(inner)

        def __iter__(self):  # pragma: no cover - must not be used
            raise AssertionError("iterated")

        def sample_ids(self):
            return inner.sample_ids()

        def __getitem__(self, i):
            if i == 1:
                raise KeyError("lost")
            return inner[i]

    result = check_dataset(Indexed())
    assert result.problems == ["idx: sample 'f1': KeyError: 'lost'"]
    ok = check_dataset(Indexed(), limit=1).manifest
    assert ok["samples"][0]["files"]["mask"]["path"] == "masks/f0.png"  # from sample.meta


def test_find_sample_finds_by_index_or_iteration_and_hints_close_ids(tmp_path):
    ds = FolderDataset(write_folder(tmp_path / "f", n=3))
    assert find_sample(ds, "f2").sample_id == "f2"
    assert find_sample(MemoryDataset(), "m1").sample_id == "m1"
    with pytest.raises(UnknownNameError) as err:
        find_sample(ds, "f22")
    assert isinstance(err.value, LookupError)
    text = str(err.value)
    assert text.startswith("no sample 'f22' in dataset 'f'. Did you mean ")
    assert "'f2'" in text and text.endswith("It has 3 samples: f0, f1, f2")
    with pytest.raises(UnknownNameError, match="Did you mean 'm2'"):
        find_sample(MemoryDataset(), "m2x")


def test_the_bundled_demo_and_its_rendering():
    ds = demo_dataset()
    assert isinstance(ds, FolderDataset) and ds.name == "demo" and ds.root == demo_root()
    assert len(ds) == 14 and check_dataset(ds, limit=2).ok
    s = ds[0]
    picture = render_sample(s)
    h, w = s.shape
    assert picture.size[0] == max(2 * w + 4, 240) and picture.size[1] >= h + 24
    pixels = np.asarray(picture)
    assert np.array_equal(pixels[:h, :w], s.image)  # the image itself on the left
    tinted = pixels[:h, w + 4 : 2 * w + 4]
    objects = np.any(list(s.instances.values()), axis=0)
    assert not np.array_equal(tinted[objects], s.image[objects])
    assert np.array_equal(tinted[~objects], s.image[~objects])


ALLOWED = {"rclicks.types", "rclicks.protocols", "rclicks.errors", "rclicks.files"}


def test_the_datasets_package_imports_nothing_else_of_rclicks():
    pkg = Path(datasets_pkg.__file__).parent
    for path in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name == "rclicks" or name.startswith("rclicks."):
                    assert name in ALLOWED or name.startswith("rclicks.datasets"), (path, name)

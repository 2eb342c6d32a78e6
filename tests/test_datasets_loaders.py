"""The benchmark loaders on generated trees: instances, ignore regions, the reference's rules,
named errors for bad files, and the manifest."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from rclicks.datasets.coco import CocoJsonDataset
from rclicks.datasets.ritm import BerkeleyDataset, CocoMValDataset, DavisDataset, GrabCutDataset
from rclicks.datasets.sbd import PascalVOCDataset, SBDDataset
from rclicks.datasets.tetris import SPLITS, TetrisDataset, limited_size
from tests.test_datasets_trees import (
    TETRIS_IDS,
    grabcut_value_mask,
    write_coco,
    write_davis,
    write_grabcut,
    write_sbd,
    write_tetris,
    write_voc,
)


def test_grabcut_values_128_is_ignore_above_is_object(tmp_path):
    root = write_grabcut(tmp_path / "GrabCut", n=1)
    m = grabcut_value_mask(40, 56, 20, 24, 9)
    m[0, 0], m[0, 1], m[0, 2] = 1, 64, 129  # the reference's id 1, a stray grey, just above 128
    Image.fromarray(m).save(root / "boundary_GT" / "s0.bmp")
    ds = GrabCutDataset(root)
    assert ds.check() == [] and ds.sample_ids() == ["s0"]
    s = ds[0]
    assert list(s.instances) == ["1"]
    obj = s.instances["1"]
    assert np.array_equal(obj, (m > 128) | (m == 1))
    assert obj[0, 0] and not obj[0, 1] and obj[0, 2]
    assert np.array_equal(s.ignore, m == 128) and s.ignore.sum() > 0
    assert not (obj & s.ignore).any()


def test_berkeley_one_picture_two_objects_is_two_samples(tmp_path):
    # Berkeley stores its 96 pictures / 100 objects as one image file per object
    root = write_grabcut(tmp_path / "Berkeley", n=1, layout="Berkeley")
    shutil.copy(root / "images" / "s0.png", root / "images" / "s0_2.png")
    Image.fromarray(grabcut_value_mask(40, 56, 10, 10, 5)).save(root / "masks" / "s0_2.png")
    ds = BerkeleyDataset(root)
    assert ds.check() == [] and ds.sample_ids() == ["s0", "s0_2"]
    a, b = ds[0], ds[1]
    assert np.array_equal(a.image, b.image)
    assert not (a.instances["1"] & b.instances["1"]).any()
    assert ds.manifest()["instances"] == 2


@pytest.mark.parametrize("cls", [DavisDataset, CocoMValDataset])
def test_davis_and_coco_mval_any_channel_is_object(tmp_path, cls):
    root = write_davis(tmp_path / cls.folder)
    ds = cls(root)
    assert ds.check() == []
    s = ds[0]
    raw = cv2.imread(str(root / "gt" / "d0.png"))
    assert list(s.instances) == ["1"] and s.ignore is None
    assert np.array_equal(s.instances["1"], raw.max(axis=2) > 0)
    assert s.instances["1"][6, 6]  # the red-only blob counts too


def test_tetris_ids_are_bgr_24_bit_and_match_their_pixels(tmp_path):
    root = write_tetris(tmp_path / "TETRIS", big=False)
    ds = TetrisDataset(root)
    assert ds.check() == []
    assert ds.sample_ids() == ["a.b_small"]  # a dot in the stem stays in the id
    s = ds[0]
    assert set(s.instances) == {str(v) for v in TETRIS_IDS}
    raw = cv2.imread(str(root / "masks" / "a.b_small.png")).astype(np.int64)
    ids = raw[..., 0] * 65536 + raw[..., 1] * 256 + raw[..., 2]  # OpenCV's BGR order
    for iid, m in s.instances.items():
        assert np.array_equal(m, ids == int(iid))


def _reference_tetris(image_path, mask_path, max_side=2048):
    """The reference loader's steps, written out independently with OpenCV."""
    image = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    raw = cv2.imread(str(mask_path)).astype(np.int32)
    labels = raw[:, :, 0] * 65536 + raw[:, :, 1] * 256 + raw[:, :, 2]
    h, w = image.shape[:2]
    if h > w:
        th = min(h, max_side)
        tw = int(w / h * th + 0.5)
    else:
        tw = min(w, max_side)
        th = int(h / w * tw + 0.5)
    image = cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((th, tw), np.int32)
    for v in np.nonzero(np.bincount(labels.ravel()))[0]:
        if v:
            r = cv2.resize((labels == v).astype(np.uint8), (tw, th), interpolation=cv2.INTER_LINEAR)
            out = np.where(r, v, out)
    return image, out


def test_tetris_long_side_is_limited_to_2048_as_in_the_reference(tmp_path):
    root = write_tetris(tmp_path / "TETRIS")
    ds = TetrisDataset(root)
    assert ds.check() == []
    s = ds[ds.sample_ids().index("wide")]
    assert s.shape == (29, 2048)  # 30 × 2100 -> int(30 / 2100 * 2048 + 0.5)
    ref_img, ref_labels = _reference_tetris(
        root / "images" / "wide.png", root / "masks" / "wide.png"
    )
    assert np.array_equal(s.image, ref_img)
    assert set(s.instances) == {"7", str(0x123456)}
    for iid, m in s.instances.items():
        assert np.array_equal(m, ref_labels == int(iid))
    full = TetrisDataset(root, max_side=0)[1]
    assert full.shape == (30, 2100)
    assert limited_size(3000, 1000, 2048) == (2048, 683)
    assert limited_size(1000, 1000, 2048) == (1000, 1000)


def test_tetris_splits_are_the_published_lists(tmp_path):
    train = SPLITS["train"].read_text().splitlines()
    val = SPLITS["val"].read_text().splitlines()
    assert (len(train), len(val)) == (1500, 500) and not set(train) & set(val)
    root = write_tetris(tmp_path / "TETRIS", big=False)
    (tmp_path / "mine.txt").write_text("a.b_small\n")
    assert TetrisDataset(root, split=str(tmp_path / "mine.txt")).sample_ids() == ["a.b_small"]
    ds = TetrisDataset(root, split="val")  # none of the 500 stems is in this tree
    problems = ds.check()
    assert len(problems) == 500 and f"no image for stem {val[0]!r} of split" in problems[0]


def test_sbd_instances_from_the_mat_files(tmp_path):
    ds = SBDDataset(write_sbd(tmp_path / "SBD"))
    assert ds.check() == [] and ds.sample_ids() == ["2008_000001", "2008_000002"]
    assert list(ds[0].instances) == ["1", "2"] and list(ds[1].instances) == ["3"]
    assert ds[0].ignore is None and ds[0].instances["2"][16:24, 5:30].all()


def test_pascal_voc_palette_indices_border_ignored_and_17_objects_kept_apart(tmp_path):
    root = write_voc(tmp_path / "PascalVOC")
    ds = PascalVOCDataset(root)
    assert ds.check() == []
    s = ds[0]
    assert list(s.instances) == [str(k) for k in range(1, 18)]
    # VOC colours 1 and 16 have the same grey value; they are two objects
    assert not (s.instances["1"] & s.instances["16"]).any()
    assert all(m.sum() == 12 * 16 for m in s.instances.values())
    idx = np.asarray(Image.open(root / "SegmentationObject" / "2007_000032.png"))
    assert np.array_equal(s.ignore, idx == 255)
    # the same mask saved as RGB colours reads the same
    Image.open(root / "SegmentationObject" / "2007_000032.png").convert("RGB").save(
        root / "SegmentationObject" / "2007_000032.png"
    )
    s2 = PascalVOCDataset(root)[0]
    assert list(s2.instances) == list(s.instances) and np.array_equal(s2.ignore, s.ignore)


def test_coco_json_polygons_rle_and_crowd_as_ignore(tmp_path):
    root, expected = write_coco(tmp_path / "coco")
    ds = CocoJsonDataset(root)
    assert ds.check() == [] and ds.sample_ids() == ["c1"]
    assert ds.notes == ["1 image(s) without any instance left out"]
    s = ds[0]
    assert list(s.instances) == ["11", "12", "13"]
    assert np.array_equal(s.instances["12"], expected["rle"])
    assert np.array_equal(s.instances["13"], expected["block"])
    poly = s.instances["11"]
    assert poly[5:14, 22:34].all() and not poly[20:, :].any()
    assert np.array_equal(s.ignore, expected["crowd"])
    assert list(CocoJsonDataset(root, crowd="instance")[0].instances) == ["11", "12", "13", "14"]
    skipped = CocoJsonDataset(root, crowd="skip")[0]
    assert skipped.ignore is None and len(skipped.instances) == 3
    assert list(CocoJsonDataset(root, category_ids=2)[0].instances) == ["12"]


def test_bad_files_are_named_one_line_each(tmp_path):
    root = write_grabcut(tmp_path / "GrabCut", n=6)
    img, masks = root / "data_GT", root / "boundary_GT"
    (img / "s0.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")  # corrupt image
    (masks / "s1.bmp").unlink()  # missing mask
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(masks / "s2.bmp")  # wrong size
    Image.fromarray(np.full((40, 56), 128, np.uint8)).save(masks / "s3.bmp")  # all ignore
    Image.fromarray(np.zeros((40, 56), np.uint8)).save(masks / "s4.bmp")  # empty
    Image.fromarray(np.zeros((40, 56), np.uint16)).save(masks / "s5.bmp.png")  # another s5?
    shutil.copy(img / "s5.png", img / "s5.jpg")  # duplicate stem
    Image.fromarray(np.zeros((40, 56), np.uint16)).save(masks / "s5.png")  # 16-bit, dup mask
    problems = GrabCutDataset(root).check()
    text = "\n".join(problems)
    assert f"{img / 's0.png'}: unreadable image" in text
    assert f"{masks / 's1.png'}: mask missing for image s1.png" in text
    assert f"{masks / 's2.bmp'}: mask is 10×10 but image s2.png is 56×40" in text
    assert f"{masks / 's3.bmp'}: no object, only ignore pixels" in text
    assert f"{masks / 's4.bmp'}: no object (mask is all background)" in text
    assert f"{img / 's5.png'}: same stem as s5.jpg" in text
    assert f"{masks / 's5.png'}: same stem as s5.bmp" in text
    assert len(problems) == 7, problems


def test_bad_files_in_the_other_layouts(tmp_path):
    t = write_tetris(tmp_path / "TETRIS", big=False)
    (t / "masks" / "a.b_small.png").unlink()
    assert TetrisDataset(t).check() == [
        f"{t / 'masks' / 'a.b_small.png'}: mask missing for image a.b_small.png"
    ]
    s = write_sbd(tmp_path / "SBD")
    (s / "inst" / "2008_000002.mat").write_bytes(b"junk")
    (s / "val.txt").write_text("2008_000001\n2008_000002\n2008_000001\n")
    problems = SBDDataset(s).check()
    assert any("listed twice" in p for p in problems)
    assert any(p.startswith(f"{s / 'inst' / '2008_000002.mat'}: unreadable .mat") for p in problems)
    c, _ = write_coco(tmp_path / "coco")
    text = (c / "annotations.json").read_text().replace('"counts": [', '"counts": [999999, ', 1)
    (c / "annotations.json").write_text(text)
    problems = CocoJsonDataset(c).check()
    assert len(problems) == 1 and "annotation 13 (image id 1): bad segmentation" in problems[0]
    assert str(c / "annotations.json") in problems[0]
    missing = CocoJsonDataset(tmp_path / "nothing")
    assert missing.check() == [
        f"{tmp_path / 'nothing' / 'annotations.json'}: annotation file not found"
    ]


def test_manifest_names_every_file_and_its_digest_ignores_the_location(tmp_path):
    a = write_grabcut(tmp_path / "a" / "GrabCut", n=2)
    b = tmp_path / "b" / "GrabCut"
    shutil.copytree(a, b)
    da, db = GrabCutDataset(a, name="x"), GrabCutDataset(b, name="y")
    assert da.check() == [] and db.check() == []
    ma = da.manifest()
    assert ma["sha256"] == db.manifest()["sha256"] == da.fingerprint
    rec = ma["samples"][0]
    assert rec["sample_id"] == "s0" and rec["instances"] == ["1"] and rec["ignore_pixels"] > 0
    assert rec["files"]["image"]["path"] == "data_GT/s0.png"
    assert rec["files"]["mask"]["path"] == "boundary_GT/s0.bmp"
    import hashlib

    assert (
        rec["files"]["mask"]["sha256"]
        == hashlib.sha256((a / rec["files"]["mask"]["path"]).read_bytes()).hexdigest()
    )
    m = grabcut_value_mask(40, 56, 20, 20, 5)
    Image.fromarray(m).save(b / "boundary_GT" / "s1.bmp")
    db2 = GrabCutDataset(b)
    assert db2.check() == [] and db2.fingerprint != ma["sha256"]
    assert GrabCutDataset(a).check(limit=1) == [] and GrabCutDataset(a).manifest()["images"] == 2

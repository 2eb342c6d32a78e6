import numpy as np
import pytest
import torch
from rclicks import Click
from rclicks.testing import check_model


def _image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    img[h // 4 : h // 2, w // 3 : w // 2] = (230, 40, 40)
    return img


def test_model_conforms_to_the_protocol(tiny):
    check_model(tiny)


def test_random_weights_are_deterministic(tiny):
    from rclicks_sam import make_sam

    other = make_sam(variant="vit_b", random_weights=True, device="cpu")
    img = _image(40, 70)
    a, b = tiny.encode(img), other.encode(img)
    assert torch.equal(a.features, b.features)
    clicks = [Click(20, 10, True)]
    assert np.array_equal(tiny.predict(a, clicks, None)[0], other.predict(b, clicks, None)[0])


def test_encode_keeps_sizes_and_predict_does_not_touch_the_embedding(tiny):
    img = _image(60, 90)
    emb = tiny.encode(img)
    assert emb.original_size == (60, 90)
    assert emb.input_size == (171, 256)  # ResizeLongestSide(256) of 60×90
    before = emb.features.clone()
    prob, state = tiny.predict(emb, [Click(45, 30, True)], None)
    tiny.predict(emb, [Click(45, 30, True), Click(5, 5, True)], state)
    assert torch.equal(before, emb.features)
    assert prob.shape == (60, 90) and prob.dtype == np.float32
    assert tuple(state.shape) == (1, 64, 64)  # low-res logits: 4 × (256 / 16)


PATTERNS = [  # the sign of every click of a trajectory
    [True, True, False, True, False],
    [True, False, False, True, True],  # click 2 negative: reference resets the mask input
    [True, True, True, False, False],
    [True, False, True, False, True],
]


def _trajectories(h, w):
    rng = np.random.default_rng(1)
    out = []
    for signs in PATTERNS:
        out.append([Click(rng.integers(0, w), rng.integers(0, h), s) for s in signs])
    return out


@pytest.mark.parametrize("prev_mask", ["reference", "always", "never"])
def test_batched_decoding_equals_one_by_one(tiny, prev_mask, monkeypatch):
    monkeypatch.setattr(tiny, "prev_mask", prev_mask)
    img = _image(50, 80)
    emb = tiny.encode(img)
    trajs = _trajectories(50, 80)
    batch_states = [None] * len(trajs)
    single_states = [None] * len(trajs)
    for k in range(1, len(PATTERNS[0]) + 1):
        probs, batch_states = tiny.predict_batch(emb, [t[:k] for t in trajs], batch_states)
        for i, t in enumerate(trajs):
            p, single_states[i] = tiny.predict(emb, t[:k], single_states[i])
            np.testing.assert_allclose(probs[i], p, rtol=0, atol=1e-5)
            assert np.array_equal(probs[i] > 0.5, p > 0.5)
            torch.testing.assert_close(batch_states[i], single_states[i], rtol=0, atol=1e-4)


def test_batch_with_different_lengths_falls_back_to_groups(tiny):
    emb = tiny.encode(_image(50, 80))
    trajs = _trajectories(50, 80)
    clicks = [trajs[0][:1], trajs[1][:3], trajs[2][:2]]
    probs, states = tiny.predict_batch(emb, clicks, [None, None, None])
    for c, p in zip(clicks, probs):
        np.testing.assert_allclose(p, tiny.predict(emb, c, None)[0], rtol=0, atol=1e-5)
    assert len(states) == 3


class Spy:
    """Records what reaches SAM's prompt encoder and mask decoder."""

    def __init__(self, model, monkeypatch):
        self.calls = []
        pe, md = model.sam.prompt_encoder, model.sam.mask_decoder
        pe_forward, md_forward = pe.forward, md.forward

        def prompt_forward(points, boxes, masks):
            self.calls.append(
                {
                    "coords": points[0].detach().cpu().numpy().copy(),
                    "labels": points[1].detach().cpu().numpy().copy(),
                    "boxes": boxes,
                    "masks": None if masks is None else masks.detach().cpu().clone(),
                }
            )
            return pe_forward(points, boxes, masks)

        def decoder_forward(*args, **kwargs):
            self.calls[-1]["multimask"] = kwargs["multimask_output"]
            return md_forward(*args, **kwargs)

        monkeypatch.setattr(pe, "forward", prompt_forward)
        monkeypatch.setattr(md, "forward", decoder_forward)


def test_click_reaches_the_model_as_scaled_xy_with_label_1(tiny, monkeypatch):
    h, w = 60, 90  # not square: x and y must not be swapped
    emb = tiny.encode(_image(h, w))
    spy = Spy(tiny, monkeypatch)
    x, y = 70, 12  # column 70, row 12
    tiny.predict(emb, [Click(x, y, True)], None)
    (call,) = spy.calls
    scale = 256 / max(h, w)
    new_h, new_w = emb.input_size
    assert (new_h, new_w) == (171, 256)
    assert call["coords"].shape == (1, 1, 2) and call["labels"].tolist() == [[1]]
    cx, cy = call["coords"][0, 0]
    # exactly ResizeLongestSide.apply_coords: x * new_w / W, y * new_h / H, no +0.5
    assert cx == pytest.approx(x * new_w / w, abs=1e-4)
    assert cy == pytest.approx(y * new_h / h, abs=1e-4)
    assert cx == pytest.approx(x * scale, rel=5e-3) and cy == pytest.approx(y * scale, rel=5e-3)
    assert call["boxes"] is None and call["masks"] is None and call["multimask"] is True


def test_negative_click_has_label_0_and_clicks_keep_their_order(tiny, monkeypatch):
    emb = tiny.encode(_image(60, 90))
    spy = Spy(tiny, monkeypatch)
    clicks = [Click(70, 12, True), Click(3, 50, False), Click(40, 40, True)]
    tiny.predict(emb, clicks, None)
    s = 256 / 90
    assert spy.calls[0]["labels"].tolist() == [[1, 0, 1]]
    np.testing.assert_allclose(spy.calls[0]["coords"][0, :, 0], [70 * s, 3 * s, 40 * s], rtol=1e-6)


@pytest.mark.parametrize(
    "signs, mode, expect_mask",
    [
        ([True, True], "reference", True),
        ([True, False], "reference", False),  # max(#pos, #neg) = 1: the reference resets
        ([True, False, False], "reference", True),
        ([True, False, True], "reference", True),
        ([True, False], "always", True),
        ([True, True], "never", False),
    ],
)
def test_previous_logits_feed_the_mask_input(tiny, monkeypatch, signs, mode, expect_mask):
    monkeypatch.setattr(tiny, "prev_mask", mode)
    emb = tiny.encode(_image(60, 90))
    clicks = [Click(10 + 20 * i, 30, s) for i, s in enumerate(signs)]
    state = None
    for k in range(1, len(clicks)):
        _, state = tiny.predict(emb, clicks[:k], state)
    spy = Spy(tiny, monkeypatch)
    tiny.predict(emb, clicks, state)
    masks = spy.calls[0]["masks"]
    if expect_mask:
        assert masks is not None and tuple(masks.shape) == (1, 1, 64, 64)
        torch.testing.assert_close(masks[0], state.cpu(), rtol=0, atol=0)
    else:
        assert masks is None


def test_multimask_never_asks_for_the_single_mask(tiny, monkeypatch):
    monkeypatch.setattr(tiny, "multimask", "never")
    emb = tiny.encode(_image(60, 90))
    spy = Spy(tiny, monkeypatch)
    prob, state = tiny.predict(emb, [Click(10, 10, True)], None)
    assert spy.calls[0]["multimask"] is False
    assert prob.shape == (60, 90) and tuple(state.shape) == (1, 64, 64)


def test_best_scoring_mask_is_kept(tiny):
    """The returned map is the sigmoid of the upscaled mask with the best predicted IoU."""
    emb = tiny.encode(_image(60, 90))
    clicks = [Click(70, 12, True)]
    prob, state = tiny.predict(emb, clicks, None)
    sam = tiny.sam
    with torch.inference_mode():
        pts = torch.tensor(tiny.points(clicks, (60, 90)), dtype=torch.float)[None]
        points = (pts, torch.tensor([[1]]))
        sparse, dense = sam.prompt_encoder(points=points, boxes=None, masks=None)
        low, iou = sam.mask_decoder(
            image_embeddings=emb.features,
            image_pe=sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
        )
        full = sam.postprocess_masks(low, emb.input_size, emb.original_size)
        best = int(torch.argmax(iou))
        want = torch.sigmoid(full[0, best]).numpy()
    np.testing.assert_allclose(prob, want, rtol=0, atol=1e-6)
    torch.testing.assert_close(state, low[0, best][None], rtol=0, atol=0)


def test_options_are_checked():
    from rclicks_sam import SamOptionError, make_sam

    with pytest.raises(SamOptionError, match="vit_x"):
        make_sam(variant="vit_x", random_weights=True, device="cpu")
    with pytest.raises(SamOptionError, match="prev_mask"):
        make_sam(variant="vit_b", random_weights=True, device="cpu", prev_mask="sometimes")
    with pytest.raises(ValueError, match="device"):
        make_sam(variant="vit_b", random_weights=True, device="tpu")


def _reference_style_trajectory(sam, image, clicks):
    """What RClicks' ISModelSAM does per click, written against SamPredictor: set the image
    again, all clicks so far, multimask output, keep the best score, previous low-res logits as
    mask input unless max(#pos, #neg) <= 1."""
    from segment_anything import SamPredictor

    predictor = SamPredictor(sam)
    prev, maps = None, []
    for k in range(1, len(clicks) + 1):
        so_far = clicks[:k]
        pos = sum(c.positive for c in so_far)
        if max(pos, k - pos) <= 1:
            prev = None
        predictor.set_image(image)
        xy = np.array([[c.x, c.y] for c in so_far], dtype=float)
        xy = predictor.transform.apply_coords(xy, image.shape[:2])
        masks, scores, logits = predictor.predict_torch(
            torch.as_tensor(xy, dtype=torch.float)[None],
            torch.tensor([[int(c.positive) for c in so_far]]),
            mask_input=prev,
            multimask_output=True,
            return_logits=True,
        )
        best = torch.argmax(scores)
        maps.append(torch.sigmoid(masks[0, best]).numpy())
        prev = logits[0, best][None, None]
    return maps


def test_engine_style_decoding_matches_a_reference_style_loop(tiny):
    img = _image(50, 80)
    emb = tiny.encode(img)
    trajs = _trajectories(50, 80)
    states = [None] * len(trajs)
    ours = [[] for _ in trajs]
    for k in range(1, len(PATTERNS[0]) + 1):
        probs, states = tiny.predict_batch(emb, [t[:k] for t in trajs], states)
        for i, p in enumerate(probs):
            ours[i].append(p)
    for i, t in enumerate(trajs):
        ref = _reference_style_trajectory(tiny.sam, img, t)
        for k, (a, b) in enumerate(zip(ours[i], ref)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=f"traj {i} click {k + 1}")


def test_reference_resize_reproduces_the_reference_input_size():
    """resize=reference calls ResizeLongestSide.apply_image_torch on the 1×3×H×W tensor as the
    reference does; that function sizes its output from (B, C) = (1, 3), so every image comes
    out S/3 × S whatever its aspect (segment-anything issue #218)."""
    from rclicks_sam import make_sam

    model = make_sam(variant="vit_b", random_weights=True, device="cpu", resize="reference")
    for h, w in ((60, 90), (90, 60)):
        emb = model.encode(_image(h, w))
        assert emb.original_size == (h, w) and emb.input_size == (85, 256)
        prob, _ = model.predict(emb, [Click(5, 5, True)], None)
        assert prob.shape == (h, w)


def test_tiny_builder_lays_out_the_network_as_the_package_builder_does():
    """The tiny test model comes from the same layout as segment_anything's own builder:
    at full size, both give the same state_dict keys and shapes."""
    from segment_anything import sam_model_registry

    from rclicks_sam import model as m
    from rclicks_sam.checkpoints import VARIANTS

    spec = VARIANTS["vit_b"]
    ours = m.build_sam(spec.embed_dim, spec.depth, spec.num_heads, spec.global_attn_indexes)
    theirs = sam_model_registry["vit_b"]()
    a = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert a == b

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


def test_embedding_carries_image_and_interm_embeddings(tiny):
    emb = tiny.encode(_image(60, 90))
    assert emb.original_size == (60, 90) and emb.input_size == (171, 256)
    assert tuple(emb.features.shape) == (1, 256, 16, 16)
    assert tuple(emb.interm.shape) == (1, 16, 16, 64)  # B×h×w×C of the global block
    assert tiny.predictor.interm_features is None  # nothing kept in the predictor
    before = (emb.features.clone(), emb.interm.clone())
    _, state = tiny.predict(emb, [Click(45, 30, True)], None)
    tiny.predict(emb, [Click(45, 30, True), Click(5, 5, True)], state)
    assert torch.equal(before[0], emb.features) and torch.equal(before[1], emb.interm)
    assert tuple(state.shape) == (1, 64, 64)


def test_encoder_runs_once_per_image(tiny, monkeypatch):
    enc = tiny.sam.image_encoder
    calls = []
    forward = enc.forward
    monkeypatch.setattr(enc, "forward", lambda x: calls.append(1) or forward(x))
    emb = tiny.encode(_image(50, 80))
    tiny.predict_batch(emb, [[Click(1, 1, True)], [Click(9, 9, True)]], [None, None])
    tiny.predict(emb, [Click(1, 1, True)], None)
    assert len(calls) == 1


PATTERNS = [
    [True, True, False, True, False],
    [True, False, False, True, True],  # click 2 negative: reference resets the mask input
    [True, True, True, False, False],
    [True, False, True, False, True],
]


def _trajectories(h, w):
    rng = np.random.default_rng(1)
    return [[Click(rng.integers(0, w), rng.integers(0, h), s) for s in signs] for signs in PATTERNS]


@pytest.mark.parametrize(
    "prev_mask, hq_token_only, multimask",
    [
        ("reference", False, "reference"),
        ("always", True, "reference"),
        ("never", False, "never"),
    ],
)
def test_batched_decoding_equals_one_by_one(tiny, monkeypatch, prev_mask, hq_token_only, multimask):
    monkeypatch.setattr(tiny, "prev_mask", prev_mask)
    monkeypatch.setattr(tiny, "hq_token_only", hq_token_only)
    monkeypatch.setattr(tiny, "multimask", multimask)
    emb = tiny.encode(_image(50, 80))
    trajs = _trajectories(50, 80)
    batch_states = [None] * len(trajs)
    single_states = [None] * len(trajs)
    for k in range(1, len(PATTERNS[0]) + 1):
        probs, batch_states = tiny.predict_batch(emb, [t[:k] for t in trajs], batch_states)
        for i, t in enumerate(trajs):
            p, single_states[i] = tiny.predict(emb, t[:k], single_states[i])
            np.testing.assert_allclose(probs[i], p, rtol=0, atol=1e-5)
            torch.testing.assert_close(batch_states[i], single_states[i], rtol=0, atol=1e-4)


class Spy:
    """Records what reaches HQ-SAM's prompt encoder and mask decoder."""

    def __init__(self, model, monkeypatch):
        self.calls = []
        pe, md = model.sam.prompt_encoder, model.sam.mask_decoder
        pe_forward, md_forward = pe.forward, md.forward

        def prompt_forward(points, boxes, masks):
            self.calls.append(
                {
                    "coords": points[0].detach().cpu().numpy().copy(),
                    "labels": points[1].detach().cpu().numpy().copy(),
                    "masks": None if masks is None else masks.detach().cpu().clone(),
                }
            )
            return pe_forward(points, boxes, masks)

        def decoder_forward(*args, **kwargs):
            self.calls[-1]["decoder"] = {
                k: kwargs[k] for k in ("multimask_output", "hq_token_only", "interm_embeddings")
            }
            return md_forward(*args, **kwargs)

        monkeypatch.setattr(pe, "forward", prompt_forward)
        monkeypatch.setattr(md, "forward", decoder_forward)


def test_click_reaches_the_model_as_scaled_xy_with_label_1(tiny, monkeypatch):
    h, w = 60, 90  # not square: x and y must not be swapped
    emb = tiny.encode(_image(h, w))
    spy = Spy(tiny, monkeypatch)
    x, y = 70, 12
    tiny.predict(emb, [Click(x, y, True), Click(3, 50, False)], None)
    (call,) = spy.calls
    new_h, new_w = emb.input_size
    assert (new_h, new_w) == (171, 256)
    assert call["coords"].shape == (1, 2, 2) and call["labels"].tolist() == [[1, 0]]
    cx, cy = call["coords"][0, 0]
    assert cx == pytest.approx(x * new_w / w, abs=1e-4)  # ResizeLongestSide, no +0.5
    assert cy == pytest.approx(y * new_h / h, abs=1e-4)
    assert call["coords"][0, 1] == pytest.approx([3 * new_w / w, 50 * new_h / h], abs=1e-4)
    dec = call["decoder"]
    assert dec["multimask_output"] is True and dec["hq_token_only"] is False
    assert dec["interm_embeddings"][0] is emb.interm
    assert call["masks"] is None  # click 1: no mask input


@pytest.mark.parametrize(
    "signs, expect_mask",
    [([True, True], True), ([True, False], False), ([True, False, False], True)],
)
def test_previous_logits_feed_the_mask_input_by_the_reference_rule(
    tiny, monkeypatch, signs, expect_mask
):
    emb = tiny.encode(_image(60, 90))
    clicks = [Click(10 + 20 * i, 30, s) for i, s in enumerate(signs)]
    state = None
    for k in range(1, len(clicks)):
        _, state = tiny.predict(emb, clicks[:k], state)
    spy = Spy(tiny, monkeypatch)
    tiny.predict(emb, clicks, state)
    masks = spy.calls[0]["masks"]
    if expect_mask:
        torch.testing.assert_close(masks[0], state.cpu(), rtol=0, atol=0)
    else:
        assert masks is None


def test_output_is_the_hq_predictors_output(tiny):
    """Same map as segment_anything_hq.SamPredictor (set_image + predict_torch, as the
    reference calls it), for both hq_token_only settings."""
    from segment_anything_hq import SamPredictor

    img = _image(50, 80)
    clicks = [Click(70, 12, True), Click(20, 40, False)]
    predictor = SamPredictor(tiny.sam)
    predictor.set_image(img)
    xy = predictor.transform.apply_coords(np.array([[70.0, 12.0], [20.0, 40.0]]), (50, 80))
    emb = tiny.encode(img)
    for hq_only in (False, True):
        tiny.hq_token_only = hq_only
        try:
            prob, state = tiny.predict(emb, clicks, None)
        finally:
            tiny.hq_token_only = False
        masks, scores, logits = predictor.predict_torch(
            torch.as_tensor(xy, dtype=torch.float)[None],
            torch.tensor([[1, 0]]),
            multimask_output=True,
            return_logits=True,
            hq_token_only=hq_only,
        )
        assert masks.shape[1] == 1  # HQ-SAM: one mask even with multimask output
        np.testing.assert_allclose(prob, torch.sigmoid(masks[0, 0]).numpy(), rtol=0, atol=1e-5)
        torch.testing.assert_close(state, logits[0], rtol=0, atol=1e-5)


def test_options_are_checked():
    from rclicks_hqsam import SamOptionError, make_hq_sam

    with pytest.raises(SamOptionError, match="vit_x"):
        make_hq_sam(variant="vit_x", random_weights=True, device="cpu")
    with pytest.raises(SamOptionError, match="hq_token_only"):
        make_hq_sam(variant="vit_b", random_weights=True, device="cpu", hq_token_only="maybe")
    m = make_hq_sam(variant="tiny", random_weights=True, device="cpu", hq_token_only="true")
    assert m.hq_token_only is True

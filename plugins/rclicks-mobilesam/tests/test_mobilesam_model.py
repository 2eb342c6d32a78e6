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


def test_batched_decoding_equals_one_by_one(tiny):
    emb = tiny.encode(_image(50, 80))
    rng = np.random.default_rng(1)
    signs = [[True, True, False], [True, False, False], [True, False, True]]
    trajs = [[Click(rng.integers(0, 80), rng.integers(0, 50), s) for s in row] for row in signs]
    batch_states = [None] * 3
    single_states = [None] * 3
    for k in range(1, 4):
        probs, batch_states = tiny.predict_batch(emb, [t[:k] for t in trajs], batch_states)
        for i, t in enumerate(trajs):
            p, single_states[i] = tiny.predict(emb, t[:k], single_states[i])
            np.testing.assert_allclose(probs[i], p, rtol=0, atol=1e-5)
            torch.testing.assert_close(batch_states[i], single_states[i], rtol=0, atol=1e-4)


def test_click_reaches_the_model_as_scaled_xy_and_matches_mobile_sams_predictor(tiny, monkeypatch):
    """Coordinates on a non-square image (a spy on the prompt encoder), and the same map as
    mobile_sam.SamPredictor.set_image + predict_torch (what the reference calls)."""
    from mobile_sam import SamPredictor

    h, w = 60, 90
    img = _image(h, w)
    emb = tiny.encode(img)
    assert emb.input_size == (683, 1024)
    seen = []
    pe = tiny.sam.prompt_encoder
    forward = pe.forward

    def spy(points, boxes, masks):
        seen.append((points[0].detach().clone(), points[1].detach().clone(), masks))
        return forward(points, boxes, masks)

    monkeypatch.setattr(pe, "forward", spy)
    clicks = [Click(70, 12, True), Click(3, 50, False)]
    prob, _ = tiny.predict(emb, clicks, None)
    monkeypatch.undo()
    ((coords, labels, masks),) = seen
    assert labels.tolist() == [[1, 0]] and masks is None
    np.testing.assert_allclose(
        coords[0].numpy(),
        [[70 * 1024 / 90, 12 * 683 / 60], [3 * 1024 / 90, 50 * 683 / 60]],
        atol=1e-3,
    )
    predictor = SamPredictor(tiny.sam)
    predictor.set_image(img)
    xy = predictor.transform.apply_coords(np.array([[70.0, 12.0], [3.0, 50.0]]), (h, w))
    out, scores, _ = predictor.predict_torch(
        torch.as_tensor(xy, dtype=torch.float)[None],
        torch.tensor([[1, 0]]),
        multimask_output=True,
        return_logits=True,
    )
    want = torch.sigmoid(out[0, torch.argmax(scores)]).numpy()
    np.testing.assert_allclose(prob, want, rtol=0, atol=1e-5)


def test_options_are_checked():
    from rclicks_mobilesam import SamOptionError, make_mobile_sam

    with pytest.raises(SamOptionError, match="vit_t"):
        make_mobile_sam(variant="vit_b", random_weights=True, device="cpu")
    with pytest.raises(SamOptionError, match="prev_mask"):
        make_mobile_sam(random_weights=True, device="cpu", prev_mask="sometimes")

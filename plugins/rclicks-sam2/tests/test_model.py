"""The model against the protocol, against sam2's own SAM2ImagePredictor, and its conventions."""

import numpy as np
import pytest
import torch
from rclicks_sam2.model import Sam2Model

from rclicks import Click
from rclicks.testing import check_model, tiny_dataset

H, W = 48, 64  # non-square on purpose


@pytest.fixture(scope="module")
def image():
    return tiny_dataset(n=1, size=(H, W), seed=3)[0].image


def _variant_of(model, **kw):
    """Another wrapper around the same network (cheap): different options, same weights."""
    return Sam2Model(model.sam, variant=model.variant, device="cpu", **kw)


def test_conforms_to_the_protocol(tiny_model):
    check_model(tiny_model)


def test_threshold_and_output_types(tiny_model, image):
    assert tiny_model.threshold == 0.5
    emb = tiny_model.encode(image)
    prob, state = tiny_model.predict(emb, [Click(5, 7, True)], None)
    assert prob.shape == (H, W) and prob.dtype == np.float32
    assert np.all((prob >= 0) & (prob <= 1))
    side = tiny_model.sam.image_size // 4
    assert tuple(state.shape) == (1, side, side)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.script in SAM2Transforms
def test_matches_sam2_image_predictor(tiny_model, image):
    """Click by click, the same numbers as SAM2ImagePredictor called the way the RClicks
    reference calls it (set_image, predict with multimask_output=False, return_logits=True,
    previous logits as mask_input, reset while max(#pos, #neg) <= 1)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    predictor = SAM2ImagePredictor(tiny_model.sam)
    s = tiny_model.sam.image_size  # the predictor hard-codes sizes for 1024-pixel inputs
    predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    predictor.set_image(image)
    clicks = [Click(20, 30, True), Click(60, 5, False), Click(3, 44, False), Click(33, 12, True)]
    emb = tiny_model.encode(image)
    state, prev = None, None
    for k in range(1, len(clicks) + 1):
        cl = clicks[:k]
        n_pos = sum(c.positive for c in cl)
        if max(n_pos, k - n_pos) <= 1:
            prev = None
        res, scores, logits = predictor.predict(
            point_coords=np.array([[c.x, c.y] for c in cl]),
            point_labels=np.array([int(c.positive) for c in cl]),
            mask_input=prev,
            multimask_output=False,
            return_logits=True,
        )
        expected = torch.sigmoid(torch.tensor(res))[0].numpy()
        prev = logits[np.argmax(scores), :, :][None, :, :]
        prob, state = tiny_model.predict(emb, cl, state)
        np.testing.assert_allclose(prob, expected, rtol=0, atol=1e-6)
        np.testing.assert_allclose(state.numpy(), prev, rtol=0, atol=1e-5)


def test_batched_equals_one_by_one(tiny_model, image):
    emb = tiny_model.encode(image)
    rng = np.random.default_rng(0)
    k = 3
    trajs = [
        [Click(int(rng.integers(W)), int(rng.integers(H)), bool(rng.integers(2))) for _ in range(k)]
        for _ in range(5)
    ]
    trajs[0] = [Click(10, 10, True), Click(20, 20, False), Click(30, 30, True)]
    # states from a previous step; one trajectory without (mixed: two decoder calls)
    states = []
    for t in trajs:
        _, st = tiny_model.predict(emb, t[:2], None)
        states.append(st)
    states[2] = None
    probs, new_states = tiny_model.predict_batch(emb, trajs, states)
    assert len(probs) == len(new_states) == len(trajs)
    for t, st, p, ns in zip(trajs, states, probs, new_states):
        p1, s1 = tiny_model.predict(emb, t, st)
        np.testing.assert_allclose(p, p1, rtol=0, atol=1e-5)
        np.testing.assert_allclose(ns.numpy(), s1.numpy(), rtol=0, atol=1e-4)


def test_encode_result_is_not_changed(tiny_model, image):
    emb = tiny_model.encode(image)
    before = [emb.image_embed.clone(), *(f.clone() for f in emb.high_res_feats)]
    state = None
    clicks = [Click(20, 30, True), Click(60, 5, False), Click(3, 44, True)]
    for k in range(1, 4):
        tiny_model.predict_batch(emb, [clicks[:k]] * 3, [state] * 3)
        _, state = tiny_model.predict(emb, clicks[:k], state)
    after = [emb.image_embed, *emb.high_res_feats]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def _spy(monkeypatch, model):
    calls = []
    enc = model.sam.sam_prompt_encoder
    original = enc.forward

    def spy(points, boxes, masks):
        calls.append((points[0].clone(), points[1].clone(), masks))
        return original(points, boxes, masks)

    monkeypatch.setattr(enc, "forward", spy)
    return calls


def test_click_coordinates_reach_the_model_as_x_y(tiny_model, image, monkeypatch):
    """Click(x=column, y=row) in original pixels -> point (x*S/W, y*S/H), label 1."""
    calls = _spy(monkeypatch, tiny_model)
    emb = tiny_model.encode(image)
    x, y = 50, 10
    tiny_model.predict(emb, [Click(x, y, True)], None)
    ((coords, labels, masks),) = calls
    s = tiny_model.sam.image_size
    assert coords.shape == (1, 1, 2)
    np.testing.assert_allclose(coords[0, 0].numpy(), [x / W * s, y / H * s], rtol=1e-6)
    assert labels.tolist() == [[1]]
    assert masks is None
    calls.clear()
    tiny_model.predict(emb, [Click(x, y, True), Click(3, 40, False)], None)
    assert calls[0][1].tolist() == [[1, 0]]
    np.testing.assert_allclose(calls[0][0][0, 1].numpy(), [3 / W * s, 40 / H * s], rtol=1e-6)


@pytest.mark.parametrize(
    ("rule", "clicks", "uses_mask"),
    [
        ("reference", "P", False),
        ("reference", "PN", False),  # the reference's reset: max(#pos, #neg) <= 1
        ("reference", "PP", True),
        ("reference", "PNN", True),
        ("always", "PN", True),
        ("never", "PNN", False),
    ],
)
def test_prev_mask_rule(tiny_model, image, monkeypatch, rule, clicks, uses_mask):
    model = _variant_of(tiny_model, prev_mask=rule)
    emb = model.encode(image)
    cl = [Click(5 + 9 * i, 5 + 7 * i, ch == "P") for i, ch in enumerate(clicks)]
    _, state = model.predict(emb, cl[:1], None)
    calls = _spy(monkeypatch, model)
    model.predict(emb, cl, state)
    assert (calls[0][2] is not None) == uses_mask


def test_multimask_always_best(tiny_model, image):
    model = _variant_of(tiny_model, multimask="always-best")
    emb = model.encode(image)
    prob, state = model.predict(emb, [Click(20, 30, True)], None)
    assert prob.shape == (H, W) and tuple(state.shape)[0] == 1
    check_model(model, dataset=tiny_dataset(n=1))


def test_same_seed_same_weights():
    from rclicks_sam2 import create_model

    a = create_model(variant="sam2-hiera-t", random_weights=True, device="cpu")
    b = create_model(variant="sam2-hiera-t", random_weights=True, device="cpu")
    sa, sb = a.sam.state_dict(), b.sam.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

"""Generation: recurrent / cached steps reproduce the full-sequence forward; state sizes."""

from __future__ import annotations

import pytest
import torch

from xlstm_ts.lm import state_nbytes

from .conftest import V, tiny_transformer, tiny_xlstm


def _stepwise_logits(model, idx, n_prompt):
    with torch.no_grad():
        logits, state = model.prefill(idx[:, :n_prompt], model.init_state(idx.shape[0], idx.shape[1]))
        out = [logits]
        for t in range(n_prompt, idx.shape[1] - 1):
            logits, state = model.step(idx[:, t], state)
            out.append(logits)
    return torch.stack(out, 1)


XLSTM_CASES = [("1:0", True), ("1:0", False), ("1:1", True), ("1:1", False), ("0:1", True)]


@pytest.mark.parametrize("slstm_at,fast", XLSTM_CASES)
def test_xlstm_step_by_step_equals_full_forward(slstm_at, fast):
    model = tiny_xlstm(slstm_at, chunk=8)
    model.fast_step = fast
    idx = torch.randint(0, V, (2, 45))
    with torch.no_grad():
        full, _ = model(idx)
    for n_prompt in (1, 13):  # prefill of one token, and a ragged chunkwise prefill
        step = _stepwise_logits(model, idx, n_prompt)
        ref = full[:, n_prompt - 1: idx.shape[1] - 1]
        assert step.shape == ref.shape
        assert (step - ref).abs().max() <= 1e-4 * max(1.0, ref.abs().max().item())


@pytest.mark.parametrize("positions", ["rotary", "learned"])
def test_transformer_kv_cache_equals_full_forward(positions):
    model = tiny_transformer(positions=positions)
    idx = torch.randint(0, V, (2, 30))
    with torch.no_grad():
        full, _ = model(idx)
        chunked, _ = model.prefill(idx[:, :17], model.init_state(2), chunk_size=5)  # offset-causal chunks
    assert torch.allclose(chunked, full[:, 16], atol=1e-5)
    step = _stepwise_logits(model, idx, 7)
    assert torch.allclose(step, full[:, 6:29], atol=1e-5)


def test_xlstm_state_is_constant_while_kv_cache_grows():
    xl, tf = tiny_xlstm("1:1"), tiny_transformer()
    sizes = {"xl": [], "tf": []}
    for name, model in (("xl", xl), ("tf", tf)):
        with torch.no_grad():
            logits, state = model.prefill(torch.randint(0, V, (1, 5)), model.init_state(1))
            for t in range(60):
                logits, state = model.step(logits.argmax(-1), state)
                if t in (0, 29, 59):
                    sizes[name].append(state_nbytes(state) if name == "xl" else state.used_numel)
    assert sizes["xl"][0] == sizes["xl"][1] == sizes["xl"][2] > 0
    assert sizes["tf"][0] < sizes["tf"][1] < sizes["tf"][2]
    assert tf.init_state(1).length == 0


def test_generate_shapes_greedy_and_sampling():
    for model in (tiny_xlstm("1:1"), tiny_transformer()):
        out = model.generate(torch.tensor([1, 2, 3]), 7, temperature=0)
        assert out.shape == (10,) and out[:3].tolist() == [1, 2, 3]
        again = model.generate([1, 2, 3], 7, temperature=0)
        assert torch.equal(out, again)  # greedy is deterministic
        batch = model.generate(torch.randint(0, V, (3, 4)), 5, temperature=0.8, top_k=5,
                               generator=torch.Generator().manual_seed(0))
        assert batch.shape == (3, 9) and int(batch.max()) < V
        with pytest.raises(ValueError):
            model.generate(torch.tensor([], dtype=torch.long), 3)
    assert not model.training


def test_generate_text_with_tokenizer():
    from xlstm_ts.lm import CharTokenizer

    tok = CharTokenizer.from_text("abc")
    model = tiny_xlstm(vocab=tok.vocab_size)
    text = model.generate("ab", 5, tokenizer=tok, generator=torch.Generator().manual_seed(1))
    assert isinstance(text, str) and text.startswith("ab")
    with pytest.raises(ValueError):
        model.generate("ab", 5)


def test_learned_positions_refuse_to_run_past_their_table():
    model = tiny_transformer(positions="learned")
    with pytest.raises(ValueError, match="learned positions"):
        model(torch.zeros(1, 129, dtype=torch.long))


def test_logit_soft_cap_bounds_logits():
    model = tiny_xlstm(logit_soft_cap=2.0)
    with torch.no_grad():
        model.lm_head.weight.mul_(1e3)
        logits, _ = model(torch.randint(0, V, (1, 9)))
    assert logits.abs().max() <= 2.0

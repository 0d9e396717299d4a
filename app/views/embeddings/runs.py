"""The Embeddings view's training animations: skip-gram trained in the view (a ``word2vec`` task whose
snapshots arrive as aligned PCA frames, Eq. 11.3-11.5), a transformer followed at the Training view's probe
snapshots, and the bar that scrubs, plays and follows the frames."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtWidgets import QFileDialog

from app.views.embeddings.common import FOLLOW_TIMEOUT_S, MAX_FRAMES, MODEL_MATRIX, TSNE, WORD2VEC
from engine.embeddings.explore import Frame, SkipGramStart, Space, aligned_pca, space_from_model
from engine.embeddings.vectors import Vectors
from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress, Snapshot, Started


class TrainingRunsMixin:
    """Part of EmbeddingsView (its state and widgets are the view's)."""

    # --- skip-gram training --------------------------------------------------------------------------

    def train_skipgram(self) -> None:
        cfg = self.skipgram.config()
        try:
            cfg.validate()
        except UserError as e:
            self.error(f"skip-gram: {e}")
            return
        corpus = self.skipgram.corpus.text().strip() or "shakespeare"
        n, dims = self.projection.words.value(), self.projection.dimensions()

        def make(token):  # type: ignore[no-untyped-def]
            from engine.corpus import load_corpus
            from engine.embeddings.explore import skipgram_animation

            return skipgram_animation(load_corpus(corpus).text, cfg, n, token, dims=dims)

        task = self.ctx.engine.start_task(WORD2VEC, make, on_events=self._on_events,
                                          on_finished=lambda fin, err: self._on_task_finished(WORD2VEC, fin, err))
        if task is None:
            assert self.ctx.engine.task is not None
            self.error(f"{self.ctx.engine.task.name} is running; skip-gram can start when it has finished")
            return
        self._w2v_task = task
        self._task = WORD2VEC
        self._train_epochs = cfg.epochs
        self.skipgram.set_running(True)
        self.projection.dims.setEnabled(False)  # the run's frames are projected as it goes: fixed before
        self.skipgram.reset_loss()
        self.skipgram.progress.setRange(0, 1000)
        self.skipgram.status.setText(f"reading {corpus}\u2026")
        self.set_source("skip-gram")
        self.spaces.pop("skip-gram", None)

    def _toggle_pause(self) -> None:
        task = self._w2v_task
        if self._task != WORD2VEC or task is None:
            return
        if task.state == "paused":
            task.resume()
        else:
            task.pause()
        paused = task.state == "paused"
        self.skipgram.set_running(True, paused)
        self.skipgram.status.setText("paused" if paused else "running")

    def stop_skipgram(self) -> None:
        if self._task == WORD2VEC and self._w2v_task is not None:
            self._w2v_task.stop()

    def _browse_corpus(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Corpus for skip-gram", "", "Text files (*.txt);;All files (*)")
        if path:
            self.skipgram.corpus.setText(path)

    def _on_events(self, events: list) -> None:
        """Events of this view's own task (skip-gram or t-SNE), in order, a batch per GUI tick."""
        new_frames = False
        for ev in events:
            if isinstance(ev, Started) and isinstance(ev.info, SkipGramStart):
                self._run_started(ev.info)
            elif isinstance(ev, Snapshot) and isinstance(ev.data, Frame) and self._task == WORD2VEC:
                self._make_room(self.run_frames)
                self.run_frames.append(ev.data)
                new_frames = True
            elif isinstance(ev, Progress) and self._task == WORD2VEC:
                m = ev.metrics
                self.skipgram.progress.setValue(int((ev.fraction or 0.0) * 1000))
                self.skipgram.progress.setFormat(f"epoch {m['epoch']}/{m['epochs']}  %p%")
                self.skipgram.status.setText(f"loss {m['loss']:.3f}, lr {m['lr']:.4f}, {m['words_per_s']:,.0f} "
                                             f"words/s, {ev.eta or 0:.0f} s left")
            elif isinstance(ev, Evaluation) and self._task == WORD2VEC:
                m = ev.metrics
                self.skipgram.add_epoch(m["epoch"], m["loss"], m["eval_loss"])
            elif isinstance(ev, Progress) and self._task == TSNE:
                self.projection.progress.setValue(ev.step)
                kl = ev.metrics.get("kl_divergence")
                kl_text = f", KL {kl:.3f}" if kl is not None else ""
                self.projection.progress.setFormat(f"t-SNE {ev.step}/{ev.total}{kl_text}")
        if new_frames and self.current_source() == "skip-gram" and self.run_shown is not None:
            self._show_run_frames()

    def _make_room(self, frames: list[Frame]) -> None:
        """Before a frame is added: past MAX_FRAMES every other stored frame goes, in place (the plot may be
        showing this very list, and then the shown frame index follows)."""
        if len(frames) >= MAX_FRAMES:
            frames[:] = frames[::2]
            if self.frames is frames:
                self.frame_index //= 2  # the same frame, or its kept neighbour

    def _run_started(self, ev: SkipGramStart) -> None:
        n = ev.shown
        # the frames hold the vectors; the words and counts are known from the start
        self.run_shown = Space(Vectors(ev.words[:n], np.zeros((n, 1), np.float32), "skip-gram (training)"),
                               ev.counts[:n], np.arange(n), "skip-gram")
        self.run_frames = []
        self.source_info.setText(f"skip-gram on {self.skipgram.corpus.text()}: {len(ev.words):,} words, "
                                 f"{ev.tokens:,} tokens; frames of the {n:,} most frequent")
        if self.current_source() == "skip-gram":
            self.space = None
            self.searched = []
            self.final_frame = None
            self.clear_analogy()
            self.completer.model().setStringList(sorted(self.run_shown.words))

    def _show_run_frames(self) -> None:
        """The run's frames on the plot: the newest if following, else only the slider grows."""
        first = self.frames is not self.run_frames
        if first:  # the run's first frame here: fit the view to it
            self.install_frames(self.run_shown, self.run_frames)
        elif self.animation.follow.isChecked():  # aligned frames keep their place and size: keep the zoom
            self.show_frame(len(self.frames) - 1, keep_range=True)
        else:
            self._update_animation_bar()

    def _run_done(self, ev: Finished) -> None:
        space: Space = ev.result
        self.spaces["skip-gram"] = space
        if self.run_shown is not None:  # the same words, now with their source's name and vectors
            self.run_shown = space.top(len(self.run_shown))
        self.last_run = (self.run_shown, list(self.run_frames)) if self.run_frames else None
        s = ev.summary
        how = "stopped" if ev.stopped else "trained"
        if not ev.stopped:
            self.skipgram.progress.setValue(1000)
        self.skipgram.status.setText(f"{how}: {len(space):,} words, {s.get('epochs', 0)} epochs in "
                                     f"{s.get('seconds', 0):.1f} s")
        if self.current_source() == "skip-gram":
            self.space, self.searched = space, []
            if self.frames is self.run_frames:
                self.shown = self.run_shown
                self.final_frame = self.frames[-1]
                self._update_animation_bar()
            self.completer.model().setStringList(sorted(set(space.words)))
            self.info(f"skip-gram {how}: click a word, try an analogy, or run t-SNE")

    def _on_run_changed(self, run: Any) -> None:
        if run.state == "starting":
            self._follow_reset = True  # a new transformer: its frames start a new animation

    def _on_task_finished(self, name: str, finished: Finished | None, error: str) -> None:
        if name == WORD2VEC:
            if finished is not None and isinstance(finished.result, Space):
                self._run_done(finished)  # (the frames of its last tick went up just before, in _on_events)
            self.skipgram.set_running(False)
            self.projection.dims.setEnabled(True)
            self._w2v_task = None
        elif name == TSNE:
            self.projection.set_running(False)
            if self._tsne_task is not None:
                self.header.busy_ended(self._tsne_task)
            self._tsne_task = None
            if finished is not None and finished.result is not None:
                shown = self._pending.get(getattr(self, "_tsne_generation", -1))
                if shown is not None:
                    self.install_frames(shown, [finished.result])
                    self.info(f"t-SNE of {len(finished.result.coords):,} words in {finished.result.seconds:.1f} s")
            elif finished is not None:
                self.info("t-SNE cancelled; the previous picture stays")
        if error:
            self.error(error)
        self._task = ""

    # --- following a transformer's training run ------------------------------------------------------

    def _on_training_snapshot(self, snap) -> None:  # type: ignore[no-untyped-def]
        run = self.ctx.run
        live = run.ref if run is not None and run.ref is not None and run.ref.live else None
        if live is None or not self.projection.follow_training.isChecked():
            return
        if self.pages.currentIndex() == 1 and self.isVisible():
            self.request_positional(snap.step, live)
        else:
            self._positional_dirty = True
        key = self.current_source()
        waiting = self._follow_busy and time.monotonic() - self._follow_sent < FOLLOW_TIMEOUT_S
        if key not in MODEL_MATRIX or not self.projection.follow_training.isChecked() or waiting:
            return
        self._follow_busy, self._follow_sent = True, time.monotonic()
        ws, handle, model = self.ctx.workspace, live.handle, live.name
        matrix, step = MODEL_MATRIX[key], snap.step
        n, dims = self.projection.words.value(), self.projection.dimensions()
        last = self.frames[-1] if self.frames and not self._follow_reset else None
        prev_words = list(self.shown.words) if self.shown is not None and last is not None else None
        prev = last.coords.copy() if last is not None and last.step is not None else None
        self._follow_reset = False

        def job() -> tuple[Space, Space, Frame, bool] | None:
            space = space_from_model(handle.model, handle.tokenizer, matrix, ws.model_counts(handle),
                                     f"{model} {matrix}")
            top = space.top(n)
            same = prev is not None and prev_words == top.words
            coords, explained = aligned_pca(top.vectors.matrix, prev if same else None, dims)
            return space, top, Frame(coords, top.vectors.matrix, "pca", step, None, None, explained), same

        self.run(job, self._follow_result, key="follow", what=f"following {model}",
                 on_error=self._follow_failed)

    def _follow_failed(self, text: str) -> None:
        self._follow_busy = False
        self.error(text)

    def _follow_result(self, value: tuple[Space, Space, Frame, bool] | None) -> None:
        self._follow_busy = False
        if value is None or self.current_source() not in MODEL_MATRIX:
            return
        space, top, frame, same = value
        self.space = space
        run = self.ctx.run
        self.space_model = f"{run.ref.name} (training), step {frame.step:,}" if run is not None and run.ref else ""
        self.spaces[self.current_source()] = space
        if same and self.frames and self.frames[-1].step is not None and self.frames[-1].dims == frame.dims:
            self.shown = top
            self._make_room(self.frames)
            self.frames.append(frame)
            if self.animation.follow.isChecked():
                self.show_frame(len(self.frames) - 1, keep_range=False)
            else:
                self._update_animation_bar()
        else:
            self.install_frames(top, [frame])
        self.final_frame = self.frames[-1]  # the vectors of self.space

    # --- animation bar -------------------------------------------------------------------------------

    def _update_animation_bar(self) -> None:
        bar, n = self.animation, len(self.frames)
        bar.slider.blockSignals(True)
        bar.slider.setRange(0, max(n - 1, 0))
        bar.slider.setValue(max(self.frame_index, 0))
        bar.slider.blockSignals(False)
        bar.slider.setEnabled(n > 1)
        bar.play.setEnabled(n > 1)
        frame = self.current_frame()
        run = self.last_run
        bar.frames_btn.setEnabled(run is not None and self.current_source() == "skip-gram"
                                  and (not self.frames or self.frames[-1] is not run[1][-1]))
        if frame is None or frame.step is None:
            bar.label.setText("a still (no frames)")
            return
        epochs = ""
        if frame.fraction is not None:
            epochs = f"  epoch {frame.fraction * self._train_epochs:.1f}"
        bar.label.setText(f"{self.frame_index + 1}/{n}  step {frame.step:,}{epochs}")
        bar.label.setToolTip(f"frame {self.frame_index + 1} of {n}: training step (batch) {frame.step:,}{epochs}")

    def show_last_run(self) -> None:
        """The frames of the last skip-gram run again (a t-SNE or PCA still replaced them)."""
        if self.last_run is None or self.current_source() != "skip-gram":
            return
        shown, frames = self.last_run
        self.install_frames(shown, list(frames))
        self.final_frame = frames[-1]
        self.change_dimensions()  # projected again if 2-D / 3-D changed since

    def _scrub(self, index: int) -> None:
        if 0 <= index < len(self.frames) and index != self.frame_index:
            self.animation.follow.setChecked(index == len(self.frames) - 1)
            self.show_frame(index, keep_range=True)

    def _play(self) -> None:
        if self.play_timer.isActive():
            self.play_timer.stop()
            self.animation.play.setText("\u25b6")
            return
        if len(self.frames) > 1:
            self.animation.follow.setChecked(False)
            self.show_frame(0, keep_range=True)
            self.animation.play.setText("\u25a0")
            self.play_timer.start()

    def _play_step(self) -> None:
        if self.frame_index + 1 >= len(self.frames):
            self._play()  # stop at the end
            return
        self.show_frame(self.frame_index + 1, keep_range=True)

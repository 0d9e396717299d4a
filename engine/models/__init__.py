"""Open any model the explorer can show, into the project's own transformer (so every probe works on it).

``open_model(spec)`` takes a name (``default``, ``smollm2``, ``minilm``: see :mod:`engine.models.registry`),
a folder (a Transformer Explorer checkpoint, or a Hugging Face folder with config.json, model.safetensors
and tokenizer.json of the GPT-2, BERT or Llama families) or a llama-architecture ``.gguf`` file, and
returns an :class:`engine.checkpoint.LoadedModel` whose ``config`` holds at least ``architecture``
("txe-gpt", "llama", "bert", "gpt2", "qwen2", "mistral"), ``name``, ``model`` (our settings), ``chat_template``
(None for a model without one) and ``step``. ``list_models()`` describes the named models installed here
without loading their weights (``txe models``).

Nothing is downloaded and nothing is cached on disk; a file that is damaged, truncated or of an
unsupported kind is one :class:`engine.errors.UserError` naming what is supported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.checkpoint import FORMAT, LoadedModel, load_checkpoint
from engine.errors import UserError
from engine.model import ModelConfig, Transformer
from engine.models.registry import NAMED, name_of, resolve

__all__ = ["describe", "list_models", "open_model", "resolve", "NAMED"]


def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def _kind(path: Path) -> str:
    """"txe", "hf" or "gguf": what the spec's path holds (or a UserError saying what is supported)."""
    from engine.models.families import SUPPORTED_TEXT
    from engine.models.vocab import read_json

    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path} has no config.json; this build opens {SUPPORTED_TEXT}")
        raw = read_json(path / "config.json", "model config")
        return "txe" if raw.get("format") == FORMAT else "hf"
    if path.is_file() and (path.suffix.lower() == ".gguf" or _is_gguf(path)):
        return "gguf"
    raise UserError(f"{path} is neither a model folder nor a .gguf file; this build opens {SUPPORTED_TEXT}")


def open_model(spec: str | Path | None = None) -> LoadedModel:
    """The model named or found at ``spec`` (None: the default model), loaded (see the module docstring)."""
    path, name = resolve(spec)
    kind = _kind(path)
    if kind == "txe":
        loaded = load_checkpoint(path)
        loaded.config.setdefault("architecture", "txe-gpt")
        loaded.config.setdefault("name", name)
        loaded.config.setdefault("chat_template", None)
        if name in NAMED:
            loaded.config.setdefault("title", NAMED[name].title)
    elif kind == "hf":
        loaded = _open_folder(path, name)
    else:
        loaded = _open_gguf(path, name)
    loaded.model.name = name
    loaded.model.architecture = str(loaded.config["architecture"])
    loaded.config.setdefault("objective", "next")  # "mlm": a masked model (engine.mlm)
    loaded.model.objective = str(loaded.config["objective"])
    return loaded


def _summary(cfg: ModelConfig, arch: str, name: str, path: Path, fmt: str, template: Any, title: str) -> dict:
    return {"format": fmt, "architecture": arch, "name": name, "title": title, "model": cfg.to_dict(),
            "source": str(path), "chat_template": template if isinstance(template, str) and template else None,
            "step": 0}


def _open_folder(path: Path, name: str) -> LoadedModel:
    from engine.models.families import PREFIXES, UNPREFIXED, model_config, recipes
    from engine.models.vocab import folder_tokenizer, read_json
    from engine.models.weights import Recipe, SafetensorsFolder, assemble, check_recipes

    raw = read_json(path / "config.json", "model config")
    where = str(path / "config.json")
    cfg = model_config(raw, where)
    arch = str(raw["model_type"])
    cfg.check_size(f"loading {path}")
    tok, settings = folder_tokenizer(path, raw)
    _fit_vocabulary(tok, cfg, str(path))
    st = SafetensorsFolder(path)
    plan = recipes(arch, cfg)
    first = next(iter(plan.values())).sources[0]
    prefix = next((p for p in PREFIXES[arch] if p + first in st.shapes), "")
    plan = {k: Recipe([s if s in UNPREFIXED else prefix + s for s in r.sources], r.transpose, r.fix)
            for k, r in plan.items()}
    check_recipes(plan, cfg.weight_shapes(), st.shapes, st.dtypes, str(path))
    tensors = st.read([s for r in plan.values() for s in r.sources])
    model = Transformer.from_weights(cfg, assemble(plan, tensors))
    template = settings.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        template = next((t.get("template") for t in template if isinstance(t, dict) and t.get("name") == "default"),
                        None)
    title = NAMED[name].title if name in NAMED else str(raw.get("_name_or_path") or path.name)[:200]
    return LoadedModel(model, tok, _summary(cfg, arch, name, path, "hf", template, title), path)


def _open_gguf(path: Path, name: str) -> LoadedModel:
    from engine.models.gguf_file import GGUFFile
    from engine.models.gguf_llama import gguf_config, gguf_weights
    from engine.models.vocab import gguf_tokenizer

    g = GGUFFile(path)
    try:
        cfg = gguf_config(g)
        cfg.check_size(f"loading {path}")
        tok = gguf_tokenizer(g.metadata, str(path))
        _fit_vocabulary(tok, cfg, str(path))
        model = Transformer.from_weights(cfg, gguf_weights(g, cfg))
    finally:
        g.close()
    title = NAMED[name].title if name in NAMED else str(g.get("general.name") or path.stem)[:200]
    arch = str(g.get("general.architecture"))
    return LoadedModel(model, tok, _summary(cfg, arch, name, path, "gguf", g.get("tokenizer.chat_template"), title),
                       path)


def _fit_vocabulary(tok: Any, cfg: ModelConfig, where: str) -> None:
    if tok.vocab_size > cfg.vocab_size:
        raise UserError(f"{where}: the tokenizer has {tok.vocab_size:,} tokens but the model only "
                        f"{cfg.vocab_size:,}; the files do not belong together")
    tok.pad_to(cfg.vocab_size)


def describe(spec: str | Path | None = None) -> dict[str, Any]:
    """What ``txe models`` says of a model, read from its settings only (no weights are loaded)."""
    path, name = resolve(spec)
    kind = _kind(path)
    if kind == "txe":
        from engine.checkpoint import model_config_of, read_config

        config = read_config(path)
        cfg = model_config_of(config, str(path / "config.json"))
        arch, chat, title = "txe-gpt", False, NAMED[name].title if name in NAMED else path.name
        objective = str(config["objective"])
    elif kind == "hf":
        from engine.models.families import model_config
        from engine.models.vocab import read_json

        raw = read_json(path / "config.json", "model config")
        cfg = model_config(raw, str(path / "config.json"))
        arch = str(raw["model_type"])
        settings = read_json(path / "tokenizer_config.json", "tokenizer config") \
            if (path / "tokenizer_config.json").is_file() else {}
        chat = bool(settings.get("chat_template")) or (path / "chat_template.jinja").is_file()
        title = NAMED[name].title if name in NAMED else str(raw.get("_name_or_path") or path.name)
    else:
        from engine.models.gguf_file import GGUFFile
        from engine.models.gguf_llama import gguf_config

        g = GGUFFile(path)
        try:
            cfg = gguf_config(g)
            arch, chat = str(g.get("general.architecture")), bool(g.get("tokenizer.chat_template"))
            title = NAMED[name].title if name in NAMED else str(g.get("general.name") or path.stem)
        finally:
            g.close()
    if kind != "txe":
        objective = "next"
    return {"name": name, "title": title, "architecture": arch, "layers": cfg.L, "heads": cfg.H,
            "kv_heads": cfg.kv_heads, "d": cfg.d, "parameters": cfg.parameter_count(), "path": str(path),
            "context": cfg.context, "vocab_size": cfg.vocab_size, "causal": cfg.causal, "chat": chat,
            "lm_head": cfg.lm_head, "objective": objective}


def list_models() -> list[dict[str, Any]]:
    """The named models installed on this machine, described (see :func:`describe`)."""
    out = []
    for name, named in NAMED.items():
        if named.path() is not None:
            out.append(describe(name))
    return out


def spec_name(path: str | Path) -> str:
    return name_of(Path(path))

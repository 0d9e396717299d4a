"""Transformer Explorer's Qt front end. All Qt lives here; the engine stays headless."""

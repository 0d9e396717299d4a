"""Widgets the views share: the view header, the model picker, control naming."""

"""One package per view (mirroring the engine's subpackages); each view is an app.views.base.View."""

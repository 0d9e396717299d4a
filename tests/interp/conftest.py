"""The real default model (assets/default-model), loaded once for the interpretability tests, on one thread."""

from __future__ import annotations

import pytest
import torch

from engine.models import open_model

TEXT = "HAMLET:\nTo be, or not to be: that is the question:\nWhether 'tis nobler in the mind to suffer"


@pytest.fixture(scope="session")
def default():
    torch.set_num_threads(1)
    return open_model("default")

from __future__ import annotations

from importlib import resources

import torch

from videoattr.core.hooks import capture_layer
from videoattr.datasets import SyntheticMotion
from videoattr.demo_model import (
    CHECKPOINT,
    CLASS_NAMES,
    CLIP_LEN,
    DATASET_KWARGS,
    GRADCAM_LAYER,
    SIZE,
    DemoNet,
    load_demo_model,
)


def test_checkpoint_ships_small_and_loads_in_eval_mode() -> None:
    path = resources.files("videoattr").joinpath("assets", CHECKPOINT)
    assert path.is_file()
    with path.open("rb") as f:
        size = len(f.read())
    assert size < 5_000_000
    model = load_demo_model()
    assert isinstance(model, DemoNet) and not model.training
    x = torch.zeros(1, 3, CLIP_LEN, SIZE, SIZE)
    with capture_layer(model, GRADCAM_LAYER) as cap, torch.no_grad():
        logits = model(x)
    assert logits.shape == (1, len(CLASS_NAMES))
    assert cap.output.shape == (1, 64, 4, 7, 7)


def test_accuracy_on_a_fresh_held_out_draw() -> None:
    model = load_demo_model()
    # seed 7 is used neither by the training (1) nor by the training script's evaluation (2)
    for evidence, minimum in (("full", 0.95), ("partial", 0.85)):
        data = SyntheticMotion(seed=7, evidence=evidence, **DATASET_KWARGS)  # type: ignore[arg-type]
        assert data.class_names == list(CLASS_NAMES)
        batch = data.sample(16)
        with torch.no_grad():
            accuracy = (model(batch.clips).argmax(1) == batch.labels).float().mean().item()
        assert accuracy >= minimum, (evidence, accuracy)

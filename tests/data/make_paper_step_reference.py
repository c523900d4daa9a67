"""Make ``paper_step_synthetic.pt``: STEP with the paper's settings on 4 SyntheticMotion clips.

The fast-preset test compares its masks' quality with these (a 2000-iteration run takes minutes, too long
for the test suite). Run from the repository root: ``python tests/data/make_paper_step_reference.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from videoattr.datasets.synthetic import SyntheticMotion
from videoattr.demo_model import DATASET_KWARGS, load_demo_model
from videoattr.methods.extremal import STEP
from videoattr.metrics import mass_in_ground_truth

#: What the test and this script share.
SEED, CLIPS, AREA = 2024, 4, 0.1


def main() -> None:
    torch.manual_seed(0)
    batch = SyntheticMotion(seed=SEED, **DATASET_KWARGS).sample(CLIPS)
    model = load_demo_model()
    result = STEP(model, areas=AREA, preset="paper", progress=True).optimize(
        batch.clips, target=batch.labels
    )
    out = {
        "seed": SEED,
        "clips": CLIPS,
        "area": AREA,
        "labels": batch.labels,
        "masks": result.masks,
        "preserved_probability": result.preserved_probability,
        "mass_in_ground_truth": mass_in_ground_truth(result.masks, batch.masks),
        "iterations": result.iterations,
        "torch": str(torch.__version__),
    }
    path = Path(__file__).with_name("paper_step_synthetic.pt")
    torch.save(out, path)
    print(
        f"wrote {path}: preserved {out['preserved_probability'].flatten().tolist()}, "
        f"mass {out['mass_in_ground_truth'].tolist()}"
    )


if __name__ == "__main__":
    main()

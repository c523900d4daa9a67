"""The fast preset against the paper's schedule on SyntheticMotion clips with known ground truth.

The paper run (2000 SGD iterations on 4 clips, minutes on a CPU) is stored in
``tests/data/paper_step_synthetic.pt`` by ``tests/data/make_paper_step_reference.py``; this test runs only
the fast preset on the same clips and compares the quality of the masks, averaged over the clips: the
target's probability on the preserved clip, the share of the mask inside the ground truth and the share
of its mass in the frames that show the evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from videoattr.datasets.synthetic import SyntheticMotion
from videoattr.demo_model import DATASET_KWARGS, load_demo_model
from videoattr.methods.extremal import STEP
from videoattr.methods.extremal.settings import FAST_ITERATIONS, FAST_MIN_REWARD_WEIGHT
from videoattr.metrics import evidence_frame_share, mass_in_ground_truth

PAPER_RUN = Path(__file__).resolve().parents[1] / "data" / "paper_step_synthetic.pt"

#: How much lower than the paper run's the fast preset's mean may be (probabilities and mass are in
#: [0, 1]; a margin of this size holds whatever kernels a CPU picks).
PROBABILITY_MARGIN = 0.05
MASS_MARGIN = 0.05
EVIDENCE_MARGIN = 0.05


@pytest.fixture(scope="module")
def paper_run() -> dict[str, Any]:
    data: dict[str, Any] = torch.load(PAPER_RUN, weights_only=True)
    return data


@pytest.mark.slow
def test_fast_preset_masks_are_as_good_as_the_papers(paper_run: dict[str, Any]) -> None:
    batch = SyntheticMotion(seed=paper_run["seed"], **DATASET_KWARGS).sample(paper_run["clips"])
    assert torch.equal(batch.labels, paper_run["labels"])  # the same clips as the stored run
    assert paper_run["iterations"] == 2000
    step = STEP(load_demo_model(), areas=paper_run["area"], preset="fast", progress=False)
    assert step.settings.max_iter == FAST_ITERATIONS == 20  # 1/100 of the paper's iterations
    assert step.settings.warm_start == "gradient"
    assert step.settings.reward_weight == FAST_MIN_REWARD_WEIGHT == 8.0
    result = step.optimize(batch.clips, target=batch.labels)
    fast_p = float(result.preserved_probability.mean())
    paper_p = float(paper_run["preserved_probability"].mean())
    assert fast_p >= paper_p - PROBABILITY_MARGIN, (fast_p, paper_p)
    fast_mass = float(mass_in_ground_truth(result.masks, batch.masks).mean())
    paper_mass = float(paper_run["mass_in_ground_truth"].mean())
    assert fast_mass >= paper_mass - MASS_MARGIN, (fast_mass, paper_mass)
    fast_share = float(evidence_frame_share(result.masks, batch.masks).mean())
    paper_share = float(evidence_frame_share(paper_run["masks"], batch.masks).mean())
    assert fast_share >= paper_share - EVIDENCE_MARGIN, (fast_share, paper_share)
    # and the achieved area is the requested one, as for the paper run
    assert float((result.achieved_area - paper_run["area"]).abs().max()) < 0.05

"""The default memory bound (``max_batch_size``) of the methods, one per kind of forward.

A method's memory is set by how many clips go through the model in one forward, and by whether
that forward keeps its activations for a backward pass. Measured on torchvision's ``r2plus1d_18``
(random weights) with ``16 x 112 x 112`` clips in float32 on a CPU, beyond the model itself
(``benchmarks/method_costs.py --memory``):

- a forward **with** a backward pass keeps about 1.2 GB per clip;
- a forward **without** one (``torch.no_grad``) needs about 0.1 GB per clip, plus about 0.1 GB.

The defaults below keep one forward of a method within about 2.5 GB on that model (the zoo's CNNs
at their native sizes are of the same order or smaller); raise ``max_batch_size`` on a GPU with
memory to spare, lower it for larger models or clips (memory grows linearly with it).
"""

from __future__ import annotations

#: Default ``max_batch_size`` of the methods that back-propagate to the input (saliency, input x
#: gradient, Integrated Gradients, SmoothGrad): about 2.4 GB per forward on ``r2plus1d_18`` at
#: ``16 x 112 x 112``.
GRADIENT_BATCH = 2
#: Default ``max_batch_size`` of the forward-only methods (occlusion, temporal occlusion, RISE,
#: Score-CAM) and of the CAM family, whose backward pass starts at their layer (a forward keeps
#: little more than one without gradients): about 1.7 GB per forward on ``r2plus1d_18`` at
#: ``16 x 112 x 112``.
FORWARD_BATCH = 16

"""Attribution methods by name, as the command line, the dataset runner and the benchmarks use them.

The names are the paper's command-line choices (``grad``, ``grad*input``, ``integrated_grad``,
``smooth_grad``, ``grad_cam``, ``2d_ep``, ``3d_ep``, ``step``). [`build_explainer`][videoattr.methods.registry.build_explainer] turns a name
and [`MethodOptions`][videoattr.methods.registry.MethodOptions] into an [`Explainer`][videoattr.methods.registry.Explainer]: one callable ``explainer(x, target) -> maps``
whatever the method, so callers need no per-method branches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

from videoattr.core.base import Attributor
from videoattr.core.hooks import Reshape
from videoattr.core.ops import Polarity
from videoattr.core.targets import Target
from videoattr.core.validation import check_areas, check_choice

METHOD_NAMES: tuple[str, ...] = (
    "grad",
    "grad*input",
    "integrated_grad",
    "smooth_grad",
    "grad_cam",
    "2d_ep",
    "3d_ep",
    "step",
)
PERTURBATION_METHODS: tuple[str, ...] = ("2d_ep", "3d_ep", "step")


@dataclass(frozen=True)
class MethodOptions:
    """Options of the named methods (each method reads the ones that concern it).

    Attributes:
        polarity: polarity of the gradient methods. Default ``"positive"`` (the seed's command line).
        areas: target areas of the perturbation methods. Default ``(0.1,)`` (the seed).
        iterations: perturbation iterations; ``None`` keeps the method's default (2000, the paper).
        optimizer: ``"sgd"`` (the paper) or ``"adam"`` (faster convergence) for the perturbation methods.
        ig_steps: Integrated Gradients steps. Default 25 (the seed).
        smooth_n: SmoothGrad noisy copies. Default 25.
        smooth_variant: SmoothGrad variant. Default ``"square"`` (the seed's command line).
        layer: Grad-CAM layer (dotted name or module); required for ``grad_cam``.
        reshape: token reshape for Grad-CAM on transformer layers.
        mean, std: the model's normalisation; when given, Integrated Gradients starts from the
            normalised black clip (the seed), else from zeros.
        max_batch_size: the memory bound of every method. Default ``None`` (no bound).
        progress: progress bars of the perturbation methods. Default ``True``.
        seed: seed of SmoothGrad's noise and of the perturbation tie-breaking. Default 0.
    """

    polarity: Polarity = "positive"
    areas: tuple[float, ...] = (0.1,)
    iterations: int | None = None
    optimizer: Literal["sgd", "adam"] = "sgd"
    ig_steps: int = 25
    smooth_n: int = 25
    smooth_variant: Literal["mean", "square", "variance"] = "square"
    layer: str | nn.Module | None = None
    reshape: Reshape | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    max_batch_size: int | None = None
    progress: bool = True
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Explainer:
    """A named method ready to run: ``explainer(x, target)`` returns ``(B, 1|A, T, H, W)``.

    Attributes:
        name: the method's name (one of `METHOD_NAMES`).
        attributor: the underlying [`Attributor`][videoattr.core.base.Attributor].
        areas: the areas passed to perturbation methods (empty for the others).
    """

    name: str
    attributor: Attributor
    areas: tuple[float, ...] = ()

    @property
    def is_perturbation(self) -> bool:
        """Whether the method returns perturbation masks (one channel per area)."""
        return self.name in PERTURBATION_METHODS

    def __call__(self, x: Tensor, target: Target = None) -> Tensor:
        if self.is_perturbation:
            out: Tensor = self.attributor.attribute(x, target, areas=list(self.areas))
            return out
        result: Tensor = self.attributor.attribute(x, target)
        return result


def build_explainer(name: str, model: nn.Module, options: MethodOptions | None = None) -> Explainer:
    """Build the method called ``name`` for ``model``.

    Raises:
        ValueError: unknown name, ``grad_cam`` without a layer, or areas outside (0, 1).

    Example:
        >>> explainer = build_explainer("step", model, MethodOptions(areas=(0.05, 0.1), iterations=300))
        >>> masks = explainer(clip, target=3)    # (B, 2, T, H, W)
    """
    from videoattr.methods.extremal import STEP, ExtremalPerturbation2D, ExtremalPerturbation3D
    from videoattr.methods.grad_cam import GradCAM3D
    from videoattr.methods.integrated_gradients import IntegratedGradients
    from videoattr.methods.saliency import Saliency
    from videoattr.methods.smoothgrad import SmoothGrad

    check_choice(name, "method", METHOD_NAMES)
    o = options or MethodOptions()
    mbs = o.max_batch_size
    attributor: Attributor
    if name in ("grad", "grad*input"):
        attributor = Saliency(
            model, multiply_by_inputs=name == "grad*input", polarity=o.polarity, max_batch_size=mbs
        )
    elif name == "integrated_grad":
        if o.mean is not None and o.std is not None:
            attributor = IntegratedGradients(
                model,
                steps=o.ig_steps,
                baseline="black",
                mean=o.mean,
                std=o.std,
                polarity=o.polarity,
                max_batch_size=mbs,
            )
        else:
            attributor = IntegratedGradients(
                model, steps=o.ig_steps, polarity=o.polarity, max_batch_size=mbs
            )
    elif name == "smooth_grad":
        inner = Saliency(model, polarity=o.polarity, max_batch_size=mbs)
        attributor = SmoothGrad(
            inner, n=o.smooth_n, variant=o.smooth_variant, seed=o.seed, max_batch_size=mbs
        )
    elif name == "grad_cam":
        if o.layer is None:
            raise ValueError(
                "method 'grad_cam' needs a layer (options.layer, or --layer on the command line)"
            )
        attributor = GradCAM3D(
            model, o.layer, reshape=o.reshape, normalize=True, max_batch_size=mbs
        )
    else:
        cls = {"2d_ep": ExtremalPerturbation2D, "3d_ep": ExtremalPerturbation3D, "step": STEP}[name]
        kwargs: dict[str, Any] = {
            "progress": o.progress,
            "seed": o.seed,
            "max_batch_size": mbs,
            **o.extra,
        }
        if o.iterations is not None:
            kwargs["max_iter"] = o.iterations
        if o.optimizer != "sgd":
            kwargs["optimizer"] = o.optimizer
        attributor = cls(model, **kwargs)
        return Explainer(name, attributor, tuple(check_areas(list(o.areas))))
    return Explainer(name, attributor)

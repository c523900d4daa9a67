"""The demo transformer: a small video transformer trained on [`SyntheticMotion`][videoattr.datasets.SyntheticMotion].

The transformer counterpart of the demo 3-D CNN ([`demo_model`][videoattr.demo_model]): the same task
(the direction in which the red square of a synthetic clip moves: right, down, left, up), the same
``(B, 3, 16, 56, 56)`` clips normalised with `MEAN` and `STD`, the same class names. Its weights ship
with the package (``videoattr/assets/demo_transformer.pt``, 0.43 MB) and were made by
``python examples/train_demo_model.py --model transformer`` (500 steps of 16 fresh clips); top-1
accuracy on 256 held-out clips (seed 2): 0.996 with the evidence in every frame and 0.848 with the
evidence in one window of 4-8 frames (the demo CNN: 1.00 and 0.996). Everything that explains
transformers (Grad-CAM on tokens, attention rollout, attention relevance) can be tried on it without
downloading anything.

Architecture (ViT-style, pre-norm): tubelets of ``4 x 8 x 8`` frames and pixels (`TUBELET`) become ``4 x 7 x 7 =
196`` tokens of width 48, ordered time-major (``t, h, w``), after one class token; a learned position
embedding; three blocks of multi-head self-attention (3 heads) and an MLP; a final layer norm and a
linear classifier on the class token.

Where to read it:

- **Attention probabilities**: every block's [`SelfAttention`][videoattr.demo_transformer.SelfAttention]
  computes its softmax explicitly in a submodule, ``blocks.{i}.attn.softmax`` (`ATTENTION_LAYERS`), whose
  output is the ``(B, heads, N, N)`` attention (rows: queries, columns: keys, ``N = 1 + 196``). A forward
  hook on it reads the probabilities, and ``output.register_hook`` their gradient.
- **Tokens**: every block's ``(B, N, D)`` tokens are one class token, then the ``(4, 7, 7)`` grid in
  time-major order: ``zoo.TokenGrid(TUBELET, prefix_tokens=1, order="thw")``, which the zoo entry
  ``"demo-transformer"`` declares.
- **Grad-CAM**: `GRADCAM_LAYER` is ``blocks.2.norm1``, the normalised tokens entering the last block's
  attention. (The last block's *output* tokens do not work: the classifier reads only the class token
  after it, so the gradient on every patch token there is zero.)

Example:
    >>> from videoattr.datasets import SyntheticMotion
    >>> model = load_demo_transformer()
    >>> batch = SyntheticMotion(seed=123, **DATASET_KWARGS).sample(4)
    >>> model(batch.clips).argmax(1).shape
    torch.Size([4])
"""

from __future__ import annotations

import math
from importlib import resources

import torch
from torch import Tensor, nn

from videoattr.datasets.synthetic import MEAN, STD
from videoattr.demo_model import CLASS_NAMES, CLIP_LEN, DATASET_KWARGS, SIZE

#: Tubelet size ``(t, h, w)`` in frames and pixels: one token per tubelet.
TUBELET: tuple[int, int, int] = (4, 8, 8)
#: Token width.
DIM = 48
#: Number of transformer blocks.
DEPTH = 3
#: Attention heads per block.
HEADS = 3
#: Default layer for Grad-CAM: the normalised tokens entering the last block (``(B, 197, 48)``).
GRADCAM_LAYER = f"blocks.{DEPTH - 1}.norm1"
#: The modules whose outputs are the attention probabilities ``(B, HEADS, 197, 197)``, first block first.
ATTENTION_LAYERS: tuple[str, ...] = tuple(f"blocks.{i}.attn.softmax" for i in range(DEPTH))
#: File name of the checkpoint inside ``videoattr/assets``.
CHECKPOINT = "demo_transformer.pt"

__all__ = [
    "ATTENTION_LAYERS",
    "CHECKPOINT",
    "CLASS_NAMES",
    "CLIP_LEN",
    "DATASET_KWARGS",
    "DEPTH",
    "DIM",
    "GRADCAM_LAYER",
    "HEADS",
    "MEAN",
    "SIZE",
    "STD",
    "TUBELET",
    "Block",
    "DemoTransformer",
    "SelfAttention",
    "load_demo_transformer",
]


class SelfAttention(nn.Module):
    """Multi-head self-attention whose softmax is a submodule, so hooks can read the probabilities.

    ``softmax`` (an ``nn.Softmax(dim=-1)``) maps the scaled scores ``q k^T / sqrt(d_head)`` to the
    attention ``A`` of shape ``(B, heads, N, N)``: row ``i`` holds how query token ``i`` mixes the value
    tokens, each row sums to 1. The output is ``proj(A v)`` with the heads concatenated.

    Args:
        dim: token width ``D`` (a multiple of ``heads``).
        heads: number of attention heads.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim must be a multiple of heads; got dim={dim}, heads={heads}")
        self.heads = heads
        self.scale = 1.0 / math.sqrt(dim // heads)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.softmax = nn.Softmax(dim=-1)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Map tokens ``(B, N, D)`` to ``(B, N, D)``."""
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, d_head)
        attn: Tensor = self.softmax((q @ k.transpose(-2, -1)) * self.scale)  # (B, heads, N, N)
        out: Tensor = self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))
        return out


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``.

    Args:
        dim: token width ``D``.
        heads: attention heads.
        mlp_ratio: hidden width of the MLP as a multiple of ``dim``. Default 2.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Map tokens ``(B, N, D)`` to ``(B, N, D)``."""
        x = x + self.attn(self.norm1(x))
        out: Tensor = x + self.mlp(self.norm2(x))
        return out


class DemoTransformer(nn.Module):
    """A small video transformer, ``(B, 3, T, H, W) -> (B, num_classes)`` logits.

    Tubelet embedding (a 3-D convolution with kernel and stride `TUBELET`), a class token, a learned
    position embedding for the token grid of a ``clip_len x size x size`` clip, ``depth`` pre-norm
    [`Block`][videoattr.demo_transformer.Block]s, a final layer norm and a linear classifier on the class
    token. With the defaults: 197 tokens of width 48, 3 blocks of 3 heads, about 0.1 M parameters.

    Args:
        num_classes: number of output classes. Default 4.
        clip_len: frames ``T`` of the input clips (the position embedding is learned for this grid).
            Default 16.
        size: frame height and width. Default 56.
        tubelet: ``(t, h, w)`` frames and pixels per token; must divide ``(clip_len, size, size)``.
            Default ``(4, 8, 8)``.
        dim: token width. Default 48.
        depth: number of blocks. Default 3.
        heads: attention heads per block. Default 3.

    Raises:
        ValueError: the tubelet does not divide the clip, or ``dim`` is not a multiple of ``heads``.
    """

    def __init__(
        self,
        num_classes: int = len(CLASS_NAMES),
        *,
        clip_len: int = CLIP_LEN,
        size: int = SIZE,
        tubelet: tuple[int, int, int] = TUBELET,
        dim: int = DIM,
        depth: int = DEPTH,
        heads: int = HEADS,
    ) -> None:
        super().__init__()
        if clip_len % tubelet[0] or size % tubelet[1] or size % tubelet[2]:
            raise ValueError(
                f"tubelet {tubelet} must divide the clip (clip_len, size, size) = "
                f"{(clip_len, size, size)}"
            )
        self.input_size = (clip_len, size, size)
        self.grid = (clip_len // tubelet[0], size // tubelet[1], size // tubelet[2])
        self.embed = nn.Conv3d(3, dim, kernel_size=tubelet, stride=tubelet)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + math.prod(self.grid), dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, 3, T, H, W)`` clips of the model's ``(T, H, W)`` to ``(B, num_classes)`` logits.

        Raises:
            ValueError: ``x`` is not ``(B, 3, T, H, W)`` with the ``(T, H, W)`` the model was built for.
        """
        if x.dim() != 5 or x.shape[1] != 3 or tuple(x.shape[2:]) != self.input_size:
            raise ValueError(
                f"x: expected clips (B, 3, {', '.join(map(str, self.input_size))}) (the position "
                f"embedding is learned for this size); got {tuple(x.shape)}"
            )
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (B, T'H'W', D), time-major
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.pos_embed
        tokens = self.norm(self.blocks(tokens))
        out: Tensor = self.classifier(tokens[:, 0])
        return out


def load_demo_transformer(device: torch.device | str | None = None) -> DemoTransformer:
    """Build [`DemoTransformer`][videoattr.demo_transformer.DemoTransformer] with the shipped weights, in eval mode.

    Args:
        device: where to put the model; ``None`` keeps it on the CPU.

    Raises:
        FileNotFoundError: the checkpoint is missing from the installed package (re-create it with
            ``python examples/train_demo_model.py --model transformer``).
    """
    path = resources.files("videoattr").joinpath("assets", CHECKPOINT)
    if not path.is_file():
        raise FileNotFoundError(
            f"the demo transformer's weights are missing ({path}); re-create them with "
            "`python examples/train_demo_model.py --model transformer`"
        )
    with path.open("rb") as f:
        state = torch.load(f, map_location="cpu", weights_only=True)
    model = DemoTransformer()
    model.load_state_dict(state)
    model.eval()
    if device is not None:
        model.to(device)
    return model

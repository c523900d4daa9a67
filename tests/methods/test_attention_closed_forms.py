"""Attention rollout and relevance on a two-block transformer with hand-set attention (float64)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from videoattr.core.attention import AttentionLayout, AttentionTap
from videoattr.methods import AttentionRelevance, AttentionRollout
from videoattr.zoo.tokens import TokenGrid

T, H, W = 4, 8, 8  # tubelets (2, 4, 4): a 2 x 2 x 2 grid, N = 1 + 8 tokens
N = 9


class FixedAttention(nn.Module):
    """``A = softmax(log P)`` (exactly ``P``) for every clip; ``P`` ``(heads, N, N)``, rows summing to 1."""

    def __init__(self, probs: Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", probs.log())

    def forward(self, x: Tensor) -> Tensor:
        logits = self.logits + 0.0 * x.sum(dim=(1, 2)).view(-1, 1, 1, 1)  # in the graph, unchanged
        a = logits.softmax(dim=-1)
        out: Tensor = (a @ x.unsqueeze(1)).mean(dim=1)
        return out


class HandSetTransformer(nn.Module):
    """``X_0 = [cls, embed(x)]``, ``X_l = X_{l-1} + mean_h(A_l) X_{l-1}``, logits ``= head(X_2[:, 0])``."""

    def __init__(self, p1: Tensor, p2: Tensor, dim: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv3d(3, dim, (2, 4, 4), stride=(2, 4, 4)).double()
        self.cls = nn.Parameter(torch.randn(1, 1, dim, dtype=torch.float64))
        self.attn = nn.ModuleList([FixedAttention(p1), FixedAttention(p2)])
        self.head = nn.Linear(dim, 4).double()
        self.attention_layout = AttentionLayout(
            taps=(AttentionTap("attn.0"), AttentionTap("attn.1")),
            tokens=TokenGrid((2, 4, 4), prefix_tokens=1),
        )

    def tokens(self, x: Tensor) -> Tensor:
        patches = self.embed(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), patches], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.tokens(x)
        for attn in self.attn:
            h = h + attn(h)
        out: Tensor = self.head(h[:, 0])
        return out


def heads(*mats: Tensor) -> Tensor:
    return torch.stack(mats).double()


EYE = torch.eye(N, dtype=torch.float64)
UNIFORM = torch.full((N, N), 1.0 / N, dtype=torch.float64)
PERM = torch.roll(
    EYE, shifts=5, dims=1
)  # token i attends to token (i + 5) % N: the class token to 5


def patch_map(attributor: AttentionRollout | AttentionRelevance, x: Tensor) -> Tensor:
    """The map on the token grid, flattened to the 8 patch tokens in time-major order."""
    return attributor.attribute(x, 1, resize=False).flatten(1)


@pytest.fixture
def x() -> Tensor:
    return torch.randn(
        2, 3, T, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )


def test_rollout_closed_forms(x: Tensor) -> None:
    # identity attention: the class token keeps everything, the patches get nothing
    model = HandSetTransformer(heads(EYE), heads(EYE))
    assert float(patch_map(AttentionRollout(model), x).abs().max()) == 0.0
    # uniform attention twice: (0.5 U + 0.5 I)^2 = 0.75 U + 0.25 I, so 0.75 / N on every patch
    model = HandSetTransformer(heads(UNIFORM), heads(UNIFORM))
    torch.testing.assert_close(
        patch_map(AttentionRollout(model), x), torch.full((2, 8), 0.75 / N, dtype=torch.float64)
    )
    # a permutation below the identity: e_0 (0.5 P + 0.5 I) puts 0.5 on token 5 (patch 4)
    model = HandSetTransformer(heads(PERM), heads(EYE))
    expected = torch.zeros(2, 8, dtype=torch.float64)
    expected[:, 4] = 0.5
    torch.testing.assert_close(patch_map(AttentionRollout(model), x), expected)


def test_rollout_head_fusion_and_discard(x: Tensor) -> None:
    model = HandSetTransformer(heads(EYE, PERM), heads(EYE, EYE))
    # mean of heads (I + P) / 2, then 0.5 * that + 0.5 I: 0.25 on token 5
    torch.testing.assert_close(
        patch_map(AttentionRollout(model), x)[:, 4], torch.full((2,), 0.25).double()
    )
    # max of heads I + P (rows sum to 2): 0.5 (I + P) + 0.5 I normalised by 1.5 -> 1/3 on token 5
    out = patch_map(AttentionRollout(model, head_fusion="max"), x)
    torch.testing.assert_close(out[:, 4], torch.full((2,), 1.0 / 3).double())
    # min of heads is zero off the diagonal: nothing reaches the patches
    assert float(patch_map(AttentionRollout(model, head_fusion="min"), x).abs().max()) == 0.0
    # discarding 8 of each row's 9 uniform entries keeps only the diagonal: identity
    model = HandSetTransformer(heads(UNIFORM), heads(UNIFORM))
    out = patch_map(AttentionRollout(model, discard_ratio=0.9), x)
    assert float(out.abs().max()) == 0.0


def test_rollout_discards_per_row_or_over_the_whole_matrix(x: Tensor) -> None:
    # the class token's row: a small self-attention and 8 distinct weights; the patch rows put 0.92 on
    # themselves and 0.01 on each other token; the second attention is the identity, so the map is
    # row 0 of rownorm(0.5 D(A_1) + 0.5 I) on the patches, D the discard
    w = torch.tensor([0.005, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.15, 0.17], dtype=torch.float64)
    p1 = torch.full((N, N), 0.01, dtype=torch.float64).fill_diagonal_(0.92)
    p1[0] = w / w.sum()
    model = HandSetTransformer(heads(p1), heads(EYE))
    # per row: int(9 * 0.815) = 7 of row 0's 8 off-diagonal entries go, only 0.17 (token 8) stays
    kept = torch.zeros(N, dtype=torch.float64)
    kept[0], kept[8] = w[0], w[8]
    expected = (0.5 * kept / w.sum()) / (0.5 * kept.sum() / w.sum() + 0.5)
    out = patch_map(AttentionRollout(model, discard_ratio=0.815), x)
    torch.testing.assert_close(out, expected[1:].expand(2, 8))
    # over the matrix: int(81 * 0.815) = 66 entries go: the 64 patch-to-other 0.01s, then row 0's
    # 0.03 and 0.05 (tokens 1 and 2); entry (0, 0) is kept though it is the smallest of all
    kept = w.clone()
    kept[1:3] = 0.0
    expected = (0.5 * kept / w.sum()) / (0.5 * kept.sum() / w.sum() + 0.5)
    out = patch_map(AttentionRollout(model, discard_ratio=0.815, discard_over="matrix"), x)
    torch.testing.assert_close(out, expected[1:].expand(2, 8))
    with pytest.raises(ValueError, match="discard_over"):
        AttentionRollout(model, discard_over="heads")  # type: ignore[arg-type]


def test_relevance_closed_form(x: Tensor) -> None:
    g = torch.Generator().manual_seed(3)
    p1 = torch.softmax(torch.randn(2, N, N, generator=g, dtype=torch.float64), dim=-1)
    p2 = torch.softmax(torch.randn(2, N, N, generator=g, dtype=torch.float64), dim=-1)
    model = HandSetTransformer(p1, p2)
    target = 1
    with torch.no_grad():
        x0 = model.tokens(x)  # (B, N, D)
    c = model.head.weight[target].detach()  # score = c . X_2[0] + b
    a1, a2 = p1.mean(0), p2.mean(0)
    x1 = x0 + a1 @ x0
    e0 = EYE[0]
    expected = []
    for b in range(x.shape[0]):
        # dS/dA2_h[i, j] = (1/h) delta_i0 (c . X_1[j]); dS/dA1_h[i, j] = (1/h) u_i (c . X_0[j]),
        # u = (I + A2)^T e_0
        d2 = torch.outer(e0, x1[b] @ c) / 2
        u = (EYE + a2).T @ e0
        d1 = torch.outer(u, x0[b] @ c) / 2
        bar2 = (d2 * p2).clamp(min=0).mean(0)
        bar1 = (d1 * p1).clamp(min=0).mean(0)
        r = (EYE + bar2) @ (EYE + bar1)
        expected.append(r[0, 1:])
    out = patch_map(AttentionRelevance(model), x)
    torch.testing.assert_close(out, torch.stack(expected), rtol=1e-10, atol=1e-12)
    assert float(out.abs().max()) > 0


def test_relevance_of_identity_attention_is_the_read_token_only(x: Tensor) -> None:
    model = HandSetTransformer(heads(EYE), heads(EYE))
    assert float(patch_map(AttentionRelevance(model), x).abs().max()) == 0.0


def test_options_are_checked() -> None:
    model = HandSetTransformer(heads(EYE), heads(EYE))
    with pytest.raises(ValueError, match="head_fusion"):
        AttentionRollout(model, head_fusion="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="discard_ratio"):
        AttentionRollout(model, discard_ratio=1.0)
    with pytest.raises(ValueError, match="layout="):
        AttentionRelevance(nn.Linear(2, 2))
    unsupported = AttentionLayout(
        (), None, name="swin", unsupported="shifted windows; use grad_cam"
    )
    with pytest.raises(ValueError, match="not defined for swin: shifted windows; use grad_cam"):
        AttentionRollout(model, layout=unsupported)


@pytest.mark.parametrize("method", [AttentionRollout, AttentionRelevance])
@pytest.mark.parametrize(
    "taps", [("attn.0", "attn.1", "spare"), ("spare", "attn.0", "attn.1"), ("attn.1", "attn.0")]
)
def test_taps_the_forward_does_not_compute_in_order_are_named(
    x: Tensor, method: type[AttentionRollout | AttentionRelevance], taps: tuple[str, ...]
) -> None:
    model = HandSetTransformer(heads(UNIFORM), heads(PERM))
    model.spare = FixedAttention(heads(UNIFORM))  # a module the forward never calls
    layout = AttentionLayout(
        taps=tuple(AttentionTap(t) for t in taps), tokens=TokenGrid((2, 4, 4), prefix_tokens=1)
    )
    with pytest.raises(RuntimeError, match=r"computed the attentions \['attn.0', 'attn.1'\]"):
        method(model, layout=layout).attribute(x, 1)


class OneOutputAttention(FixedAttention):
    """Returns ``(out,)`` only, as transformers 4.x attention does unless asked for its probabilities."""

    def forward(self, x: Tensor) -> tuple[Tensor]:  # type: ignore[override]
        return (super().forward(x),)


class OneOutputTransformer(HandSetTransformer):
    def __init__(self) -> None:
        super().__init__(heads(UNIFORM), heads(UNIFORM))
        self.attn = nn.ModuleList([OneOutputAttention(heads(UNIFORM)) for _ in range(2)])
        self.attention_layout = AttentionLayout(
            taps=(AttentionTap("attn.0", output=1), AttentionTap("attn.1", output=1)),
            tokens=TokenGrid((2, 4, 4), prefix_tokens=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.tokens(x)
        for attn in self.attn:
            h = h + attn(h)[0]
        out: Tensor = self.head(h[:, 0])
        return out


@pytest.mark.parametrize("method", [AttentionRollout, AttentionRelevance])
def test_a_tap_without_probabilities_in_its_output_fails_in_one_line(
    method: type[AttentionRollout] | type[AttentionRelevance], x: Tensor
) -> None:
    with pytest.raises(RuntimeError, match=r"'attn.0' returned no probabilities at output index 1 "
                       r"\(got 1 outputs\).*transformers 4.x"):  # fmt: skip
        method(OneOutputTransformer()).attribute(x, 1)

"""Seeds derived from a seed and a key, the same in every process and on every platform.

SmoothGrad seeds each clip's noise and RISE each block of masks with [`clip_seed`][videoattr.core.seeds.clip_seed],
so a clip (or a block) gets the same random numbers whatever shares its batch.
"""

from __future__ import annotations

import hashlib

#: A clip's key: its position in a call or an id such as a dataset's.
ClipKey = int | str


def clip_seed(seed: int, key: ClipKey) -> int:
    """The 63-bit seed of one clip's noise generator, derived from ``seed`` and the clip's ``key``.

    A hash (SHA-256 of ``"{seed}:{type}:{key}"``), so nearby seeds and keys give unrelated streams and the
    value is the same in every process and on every platform.

    Example:
        >>> clip_seed(0, 3) == clip_seed(0, 3) != clip_seed(0, "3")
        True
    """
    kind = "int" if isinstance(key, int) else "str"
    digest = hashlib.sha256(f"{seed}:{kind}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)

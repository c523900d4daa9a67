"""The progress bar every method that runs more than one forward shows (one helper, one look).

A bar counts *forwards* (clips through the model: IG steps, noisy copies, occluded or masked clips)
or *iterations* (the perturbation methods' optimisation), with its rate and the time left, on
``stderr``. It appears only when the work lasts longer than [`DELAY_S`][videoattr.core.progress.DELAY_S]
seconds (a call on a small model prints nothing) and disappears when the work is done. Every
method that shows one takes ``progress=True``; ``progress=False`` silences it.

Example:
    >>> from videoattr.core.progress import progress_bar
    >>> with progress_bar(100, "occlusion", enabled=False) as bar:
    ...     for start in range(0, 100, 64):
    ...         bar.update(min(64, 100 - start))
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm

#: Seconds of work before a bar appears (shorter calls print nothing).
DELAY_S = 1.0


def progress_bar(
    total: int, description: str, *, unit: str = "forward", enabled: bool = True
) -> tqdm:
    """A bar over ``total`` forwards (or iterations, ``unit="it"``) of one method call.

    Args:
        total: forwards (or iterations) the call will run.
        description: what runs, e.g. the method's name.
        unit: what one step is. Default ``"forward"``.
        enabled: ``False`` returns a silent bar (``update`` still counts). Default ``True``.

    Returns:
        A ``tqdm`` bar; use it as a context manager or ``close()`` it.
    """
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        disable=not enabled,
        leave=False,
        delay=DELAY_S,
        dynamic_ncols=True,
    )


def show_value(bar: tqdm, name: str, value: Callable[[], float]) -> None:
    """Show ``name=value()`` after the bar's count, computed only when the bar is about to redraw.

    ``value`` runs only then (it may synchronise a GPU), so the number shown is the one of the
    step just finished, never an old one.
    """
    if bar.disable:
        return
    if bar._time() - bar.last_print_t >= bar.mininterval or bar.n + 1 >= (bar.total or 0):
        bar.set_postfix({name: f"{value():.4g}"}, refresh=False)

"""The published evaluation protocol on annotated datasets: one call from the files to the table.

[`open_source`][videoattr.evaluation.open_source] reads a dataset's annotation (UCF101-24,
J-HMDB-21, Something-Else, EPIC-Kitchens), [`load_model_for`][videoattr.evaluation.load_model_for]
builds the model for its classes (checking the checkpoint's classifier), and
[`evaluate`][videoattr.evaluation.evaluate] attributes every video with each method through the
dataset runner, scores the maps against the boxes and writes the table and the figure.
``videoattr evaluate`` on the command line is the same.

Example:
    >>> from videoattr.evaluation import evaluate, load_model_for, open_source
    >>> source = open_source("ucf101-24", "data/UCF101_24")                   # doctest: +SKIP
    >>> model, line = load_model_for("r2plus1d_18", "r2p1d_ucf24.pth", source.labels)  # doctest: +SKIP
    >>> table = evaluate(source, model, ["grad_cam", "ig"], "runs/ucf-eval")  # doctest: +SKIP
    >>> print(table.markdown())                                                # doctest: +SKIP
"""

from videoattr.evaluation.report import Row, Table
from videoattr.evaluation.run import MethodSpec, evaluate
from videoattr.evaluation.scoring import COLUMNS, Cell, VideoScores, score_video, summarise
from videoattr.evaluation.sources import DATASETS, DatasetSource, load_model_for, open_source

__all__ = [
    "COLUMNS",
    "DATASETS",
    "Cell",
    "DatasetSource",
    "MethodSpec",
    "Row",
    "Table",
    "VideoScores",
    "evaluate",
    "load_model_for",
    "open_source",
    "score_video",
    "summarise",
]

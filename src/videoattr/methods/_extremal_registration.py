"""Registration of the extremal methods while :mod:`.extremal.attributors` does not register them itself.

Each name is registered only if the extremal module has not already done so; once it does, this module
does nothing and can be deleted.
"""

from __future__ import annotations

from videoattr.methods.extremal import STEP, ExtremalPerturbation2D, ExtremalPerturbation3D
from videoattr.methods.registry import method_names, register_method

_EXTREMAL = (
    (
        "ep2d",
        ExtremalPerturbation2D,
        ("2d_ep", "ExtremalPerturbation2D", "2d-ep", "ep_2d", "extremal_2d"),
        "extremal perturbation frame by frame (Fong et al. 2019, per frame)",
    ),
    (
        "ep3d",
        ExtremalPerturbation3D,
        ("3d_ep", "ExtremalPerturbation3D", "3d-ep", "ep_3d", "extremal_3d"),
        "extremal perturbation of the whole clip",
    ),
    (
        "step",
        STEP,
        ("STEP", "spatio_temporal_extremal_perturbation"),
        "spatio-temporal extremal perturbation with a smoothness term (Li et al., WACV 2021)",
    ),
)

for _name, _cls, _aliases, _summary in _EXTREMAL:
    if _name not in method_names():
        register_method(_name, _cls, aliases=_aliases, kind="perturbation", summary=_summary)

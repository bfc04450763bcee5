"""vidbw: colour to aesthetic black-and-white for whole films, and B&W archive footage to colour.

The Python API is `vidbw.api` (`convert`, `learn_style`, `find_shots`, `evaluate_style`, ...), exported
here; it is imported on first use, so `import vidbw` stays cheap (no torch, no numba).
"""

import os as _os

__version__ = "0.1.0"

# OpenMP pools (numba's kernel threads, torch) otherwise spin after each parallel region, stealing
# the cores the video encoder needs between frames (benchmarks/bench_convert.py shows the cost).
# Must be set before libgomp loads; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "Conversion",
    "ShotsFound",
    "VidbwError",
    "contact_sheet",
    "convert",
    "evaluate_colorize",
    "evaluate_flicker",
    "evaluate_restore",
    "evaluate_style",
    "export_style_lut",
    "find_shots",
    "learn_style",
    "list_styles",
    "list_tonings",
    "make_pairs",
    "restore_film",
    "train_colorizer",
    "train_retoucher",
]


def __getattr__(name: str):
    # Lazy: vidbw.api imports only the light modules itself, and the rest when a function runs.
    if name == "VidbwError":
        from vidbw.errors import VidbwError

        return VidbwError
    if name in __all__:
        from vidbw import api

        return getattr(api, name)
    raise AttributeError(f"module 'vidbw' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

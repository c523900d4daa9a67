"""MkDocs hook: ship MathJax with the site, so formulas render without a network.

The MathJax 3 distribution comes from the ``django-static-mathjax`` package on PyPI (a plain copy of
MathJax's ``es5`` build; Django itself is not needed). The combined ``tex-mml-chtml.js`` component and
the CommonHTML web fonts it loads are added to the site under ``js/mathjax/``; ``mkdocs.yml`` loads
the script from there (after ``js/mathjax-config.js``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

#: Where MathJax's files go in the built site.
SITE_DIR = "js/mathjax"


def mathjax_root() -> Path:
    """The installed ``es5`` folder of MathJax 3."""
    spec = importlib.util.find_spec("mathjax")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        root = Path(location) / "static" / "mathjax" / "es5"
        if (root / "tex-mml-chtml.js").is_file():
            return root
    raise PluginError(
        "MathJax is not installed: the docs ship it so formulas render offline. Install the "
        "'django-static-mathjax' package (part of the dev extra: pip install -e '.[dev]')."
    )


def on_files(files: Files, *, config: MkDocsConfig, **kwargs: Any) -> Files:
    """Add the MathJax script and its fonts to the site's files."""
    root = mathjax_root()
    sources = [root / "tex-mml-chtml.js"]
    sources += sorted((root / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    for source in sources:
        dest = f"{SITE_DIR}/{source.relative_to(root).as_posix()}"
        files.append(File.generated(config, dest, abs_src_path=str(source)))
    return files

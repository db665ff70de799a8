"""The Jinja2 environment every channel renders with: autoescaped, strict about undefined names (a typo in a
template fails loudly instead of publishing an empty field), whitespace-trimmed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2


def environment(directory: str | Path, *, autoescape: bool | Callable[[str | None], bool] = True,
                trim: bool = True) -> jinja2.Environment:
    """``trim=False`` keeps block tags' whitespace (for output whose bytes are compared, e.g. WeChat article HTML)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=trim,
        lstrip_blocks=trim,
    )

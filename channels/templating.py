"""The Jinja2 environment every channel renders with: autoescaped, strict about undefined names (a typo in a
template fails loudly instead of publishing an empty field), whitespace-trimmed."""

from __future__ import annotations

from pathlib import Path

import jinja2


def environment(directory: str | Path, *, autoescape: bool | jinja2.select_autoescape = True) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

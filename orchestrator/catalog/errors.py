"""Errors whose message is shown to a person as is (Simplified Chinese)."""

from __future__ import annotations


class CatalogError(Exception):
    """Anything wrong with a catalog file or its configuration; ``str(exc)`` is the message for the user."""


class CatalogImportError(CatalogError):
    """The file could not be imported at all (empty, binary, not a catalog, damaged, too large)."""


class CatalogValidationError(CatalogError):
    """A catalog YAML breaks the rules; ``problems`` lists each one, naming the entry and field."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"目录 {source} 校验未通过（{len(problems)} 处问题）：\n" + "\n".join(f"  - {p}" for p in problems))

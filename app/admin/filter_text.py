"""The `filter=` expression's shape, checked before starlette-admin parses it.

The library's parser reads an unclosed "(" and a dangling AND or OR as nothing there, so
`filter=(((` listed every row where the reference promises a 400 naming the filter.
"""

from __future__ import annotations

import re

JOINS = re.compile(r"^\s*(AND|OR)\b|\b(AND|OR)\s*$|\(\s*(AND|OR)\b|\b(AND|OR)\s*\)")


def shape_problem(text: str) -> str | None:
    """What is wrong with the expression's brackets and joins, outside quoted values; else None."""
    depth, bare, quoted, escaped = 0, [], False, False
    for char in text:
        if quoted:
            quoted = not (char == '"' and not escaped)
            escaped = char == "\\" and not escaped
            bare.append(" ")  # a quoted value's brackets and words are its own
            continue
        if char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return "a ')' without its '('"
        bare.append(char)
    if quoted:
        return 'a quoted value is not closed with "'
    if depth:
        return "a '(' is not closed"
    outside = "".join(bare)
    if re.search(r"\(\s*\)", outside):
        return "an empty group ()"
    if JOINS.search(outside):
        return "AND or OR with nothing on one side"
    return None

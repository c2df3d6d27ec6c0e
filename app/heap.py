"""The served process's heap: what start-up built is kept out of the garbage collector's rounds.

A served process holds about 130,000 objects built at start-up (modules, mappers, the admin,
compiled statements) that live as long as it does. Python's full collections walk every one of
them: about 0.3 ms of CPU per socket opened went to them (bench/sockets_scale.py). Frozen once
start-up is done, they are left out of every later collection (docs/architecture.md, "The served
process's heap").
"""

from __future__ import annotations

import gc


def freeze_start_up_objects() -> None:
    """Collects start-up's garbage, then freezes what is left: only objects made afterwards
    are walked by later collections. For a process that serves until it stops, not a test's."""
    gc.collect()
    gc.freeze()

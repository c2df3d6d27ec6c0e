"""Compiled templates kept for the whole process, across the Jinja environments it builds.

Each app (and its admin) builds its own environment, which compiles every template on first use
(about 0.3 s for an admin page's set). A process that builds apps again (the test suite, a
reload) finds their code here; an edited template has another checksum and is compiled anew.
"""

from __future__ import annotations

from jinja2.bccache import Bucket, BytecodeCache


class ProcessBytecodeCache(BytecodeCache):
    """Jinja's documented extension point, backed by a dictionary: its own caches are on disk
    or in memcached, and this needs neither."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        stored = self.code.get(bucket.key)
        if stored is not None:
            bucket.bytecode_from_string(stored)  # rejected there when the source changed

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = ProcessBytecodeCache()

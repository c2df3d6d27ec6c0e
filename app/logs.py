"""How log lines look: uvicorn's text by default; with `LOG_FORMAT=json`, one JSON object per
line (`time`, `level`, `logger`, `message`, `request_id`, and `exception` with a traceback), so
a log shipper needs no parsing rules. `request_id` is the id of the request being served, the
one in its `X-Request-ID` header and on its error page (app/request_ids.py); null outside one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
from typing import Any

from app.request_ids import current_request_id

JSON = "json"


class JsonLines(logging.Formatter):
    """One JSON object per record, on one line: a traceback's newlines are escaped inside it."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(log_format: str) -> dict[str, Any] | None:
    """For uvicorn's `log_config` (each worker applies it); None: uvicorn's own text lines."""
    if log_format != JSON:
        return None
    handler = {"class": "logging.StreamHandler", "formatter": JSON, "stream": "ext://sys.stderr"}
    # uvicorn's loggers, and the app's (through the root logger), in the same lines.
    uvicorn = {"handlers": [JSON], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {JSON: {"()": JsonLines}},
        "handlers": {JSON: handler},
        "root": {"handlers": [JSON], "level": "INFO"},
        "loggers": {name: uvicorn for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def use_log_format(log_format: str) -> None:
    """For a process uvicorn does not start (`scheduler`): INFO and above, in the chosen format."""
    config = logging_config(log_format)
    if config is None:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    else:
        logging.config.dictConfig(config)

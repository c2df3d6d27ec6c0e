"""The app as uvicorn serves it, with the version check slowed to once an hour.

What such a process learns of a change within a test, it learned from the message: the
check that heals a missed one cannot have run. For uvicorn processes only (`HEARD_APP` in
the test): importing it builds the app from the environment.
"""

from __future__ import annotations

import dataclasses

from app.config import load_config
from app.main import create_app

app = create_app(dataclasses.replace(load_config(), settings_check_interval=3600.0))

"""A stand-in for process_item whose worker dies (as a native crash would) on ids starting with ``crash``."""
from __future__ import annotations

import os
import time


def fake_item(item, digest, settings, root):
    if item.id.startswith("crash"):
        time.sleep(0.05)  # its neighbours are still running when it dies
        os._exit(1)
    time.sleep(0.2)
    return {"id": item.id, "status": "ok", "pid": os.getpid()}

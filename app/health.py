"""`python -m app.health [FILE]`: exit 0 while the bot's heartbeat is fresh, 1 otherwise.

What Docker's HEALTHCHECK runs. It reads the heartbeat file (`$DATA_DIR/heartbeat` by
default) and nothing else: no settings to validate, no Discord, Azure or database call, and
none of the bot's heavy imports, so it costs a few milliseconds every interval.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from services.health import HEARTBEAT_FILE, read_health


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(os.environ.get("DATA_DIR") or "data") / HEARTBEAT_FILE
    health = read_health(path)
    print(("healthy: " if health.ok else "unhealthy: ") + health.reason)
    return 0 if health.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

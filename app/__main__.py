"""`python -m app` runs the bot; `python -m app --help` lists the other commands."""

from __future__ import annotations

import sys

from app.main import main

sys.exit(main())

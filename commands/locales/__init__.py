"""One catalogue per language: `MESSAGES` by key, and `COMMAND_TEXTS` by English text."""

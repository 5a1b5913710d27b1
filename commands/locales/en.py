"""English: the default for every locale without a catalogue of its own."""

MESSAGES: dict[str, str] = {
    # The error policy (commands/errors.py)
    "error.internal": "Sorry, something went wrong on my side. (reference {reference})",
    "error.cooldown": "Slow down a little: try again in {seconds} seconds.",
    "error.missing_permissions": "You need the {permissions} permission for that.",
    "error.guild_only": "This command works in the server, not in direct messages.",
    "error.bad_value": "{value} is not a valid value for that option: pick one Discord offers.",
    "error.check_failed": "You can't use this command here.",
    "error.outdated": "That command changed; Discord will update its list shortly. Try again.",
}

# Slash command texts are their own English source; nothing to translate.
COMMAND_TEXTS: dict[str, str] = {}

"""The conversation: when the bot speaks, what it says, and the profiles that shape its tone."""

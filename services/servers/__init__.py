"""What each server chooses with /setup, where the bot listens, and what its chat may spend."""

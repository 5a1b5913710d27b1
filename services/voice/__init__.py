"""The voice channel: the music queue and its sources, speech, the mixer and the player."""

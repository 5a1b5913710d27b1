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
    # Voice channels (commands/voice_audio.py)
    "voice.join_first": "Join a voice channel first, then ask again.",
    "voice.busy_elsewhere": "I'm already in {channel}: join me there.",
    "voice.same_channel": "Join me in {channel} to control the music.",
    "voice.connect_failed": "I couldn't connect to {channel}. Try again in a moment.",
    "voice.unavailable": "Voice isn't available on this bot: its server lacks the Opus audio "
    "library (libopus).",
    # Music (commands/music.py)
    "music.link_not_allowed": "I only play links from {hosts}. For anything else, type words "
    "to search.",
    "music.no_result": "I found nothing to play for that.",
    "music.live": "I don't play live streams: pick a recording.",
    "music.too_long": "That track is longer than {minutes} minutes, the longest I play.",
    "music.unplayable": "I couldn't play that: the source failed or isn't playable audio.",
    "music.source_failed": "{title} couldn't be played (the source failed): on to the next one.",
    "music.queue_full": "The queue is full ({limit} tracks). Try again when it has moved on.",
    "music.now_playing": "▶️ Now playing {title} ({duration}).",
    "music.queued": "➕ Queued {title} ({duration}) at position {position}.",
    "music.unknown": "unknown length",
    "music.nothing_playing": "Nothing is playing.",
    "music.nothing_to_resume": "There's nothing to resume: the queue is empty.",
    "music.skipped": "⏭️ {user} skipped {title}.",
    "music.stopped": "⏹️ {user} stopped the music and cleared the queue ({count} tracks).",
    "music.paused": "⏸️ {user} paused {title}.",
    "music.resumed": "▶️ {user} resumed {title}.",
    "music.queue_empty": "The queue is empty. Add a song with /play.",
    "music.queue_title": "Music queue",
    "music.queue_playing": "Now playing",
    "music.queue_paused": "Paused",
    "music.queue_stopped": "Stopped (/resume carries on)",
    "music.queue_current": "{title}\n{elapsed} / {total} · asked by {requester}",
    "music.queue_next": "Up next",
    "music.queue_entry": "{position}. {title} ({duration}) · {requester}",
    "music.queue_nothing_next": "Nothing after this one.",
    "music.queue_footer": "Page {page}/{pages} · {count} tracks · {total} in all",
    # Speech (commands/say.py)
    "say.not_configured": "Speech isn't set up on this bot (it needs an ElevenLabs key and voice).",
    "say.too_long": "That's {length} characters; I say at most {limit}.",
    "say.done": "🔊 Said in {channel}.",
    "say.failed_invalid_key": "I couldn't speak: ElevenLabs rejected the bot's key. Tell the "
    "bot's operator.",
    "say.failed_quota_exceeded": "I couldn't speak: the ElevenLabs quota is used up.",
    "say.failed_rate_limited": "I couldn't speak: ElevenLabs is limiting requests. Try again "
    "in a minute.",
    "say.failed_unavailable": "I couldn't speak: ElevenLabs had a server error. Try again later.",
    "say.failed_timeout": "I couldn't speak: ElevenLabs took too long to answer. Try again later.",
}

# Slash command texts are their own English source; nothing to translate.
COMMAND_TEXTS: dict[str, str] = {}

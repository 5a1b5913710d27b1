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
    "permission.manage_guild": "Manage Server",
    # /persona
    "persona.title": "How I see {name}'s writing",
    "persona.tone": "Tone",
    "persona.reply_style": "Reply style",
    "persona.language": "Main language",
    "persona.figures": "Style figures",
    "persona.average_length": "Average length: {length} characters",
    "persona.questions": "Questions",
    "persona.exclamations": "Exclamations",
    "persona.emoji": "Emoji",
    "persona.capitals": "Capitals",
    "persona.links": "Links",
    "persona.active_hours": "Most active hours (UTC): {hours}",
    "persona.temperature": "Temperature used with you",
    "persona.temperature_fixed": "fixed by the model",
    "persona.built": "Built from",
    "persona.built_value": "your last {count} messages, {when}",
    "persona.kept": "What is kept",
    "persona.kept_value": "Your messages in the watched channels, for {days} days at most, and "
    "this profile. `/persona forget` deletes them; `/persona opt-out` stops it all.",
    "persona.none_yet": "You have no profile yet. I build one from your messages in the watched "
    "channels the next time I answer you.",
    "persona.none_opted_out": "You opted out: I keep nothing of yours here. "
    "`/persona opt-in` undoes it.",
    "persona.none_needs_opt_in": "Profiles are opt-in on this server: `/persona opt-in` if you "
    "want one.",
    "persona.refresh_cooldown": "Your profile was refreshed recently: try again in {minutes} "
    "minutes.",
    "persona.refresh_failed": "I couldn't build your profile right now (no messages of yours, or "
    "the AI service is unavailable). Try again later.",
    "persona.forget_question": "Delete every message of yours I keep on this server, your "
    "profile and your settings? This cannot be undone.",
    "persona.forget_yes": "Delete everything",
    "persona.forget_no": "Cancel",
    "persona.not_your_button": "These buttons belong to the member who asked.",
    "persona.forget_cancelled": "Nothing was deleted.",
    "persona.forgotten": "Done: {messages} messages, your profile and your settings are deleted.",
    "persona.opted_out": "You're opted out: I deleted {messages} messages and your profile, and "
    "won't keep or analyse anything of yours here. `/persona opt-in` undoes it.",
    "persona.opted_in": "You're opted in: I'll keep your messages in the watched channels and "
    "build your profile from them.",
    "persona.unknown_action": "Pick one of the actions Discord offers: show, refresh, forget, "
    "opt-out, opt-in or export.",
    "persona.export_wait": "You asked for your data within the last hour: you can ask again "
    "{when}.",
    "persona.exported": "Here is everything I keep about you, in every server ({messages} "
    "messages). The file is only for you; the README describes its fields.",
    "persona.export_too_big": "Your data does not fit in one Discord file: ask the bot's "
    "operator for a copy.",
    # /privacy
    "privacy.title": "What this bot keeps, and what you can do about it",
    "privacy.intro": "The bot reads the channels its server chose, remembers messages to take "
    "part in the conversation, and learns how each member writes to answer them in a fitting "
    "tone.",
    "privacy.kept": "What is kept",
    "privacy.kept_value": "Your messages in the watched channels (text, times, server and "
    "channel), at most {days} days; a short description of your writing style (your profile), "
    "seen only by you; your opt-out or opt-in; the ids of the bot's replies to you; the model "
    "tokens spent for you (counts, never text).",
    "privacy.why": "Why",
    "privacy.why_value": "To give the bot the recent conversation as context and to match its "
    "replies to how you write. Never to profile you for anyone else, never to train a model.",
    "privacy.recipients": "Who receives it",
    "privacy.recipients_value": "Azure OpenAI, the operator's deployment, receives the recent "
    "messages of a channel and your profile when the bot considers a reply. The server's admins "
    "never see your messages or profile.",
    "privacy.recipients_speech": "ElevenLabs receives the text of `/say`, to speak it.",
    "privacy.how_long": "For how long",
    "privacy.how_long_value": "Messages and everything built from them: {days} days at most. "
    "When the bot is removed from a server, everything of that server goes {hours} hours later "
    "unless it is added back.",
    "privacy.encryption": "Encryption at rest",
    "privacy.encrypted": "Texts, names and profiles are encrypted in the bot's files.",
    "privacy.not_encrypted": "The operator has not set an encryption key: texts are stored as "
    "written, on the operator's machine.",
    "privacy.controls": "Your controls",
    "privacy.controls_value": "`/persona` shows your profile; `/persona export` gives you a copy "
    "of everything, from every server; `/persona forget` deletes it here; `/persona opt-out` "
    "deletes it and keeps nothing more; `/persona opt-in` undoes that. A deleted Discord "
    "account: ask the operator.",
    "privacy.policy": "Privacy policy",
    "privacy.policy_link": "Read the operator's privacy policy",
    # /setup forget-server
    "setup.forget_server_question": "Delete every message, member profile and token count the "
    "bot keeps for this server, now? Settings and members' opt-outs stay. This cannot be undone.",
    "setup.forget_server_yes": "Delete the server's data",
    "setup.forget_server_no": "Cancel",
    "setup.forget_server_cancelled": "Nothing was deleted.",
    "setup.forget_server_done": "Done: {messages} messages and {profiles} profiles of this server "
    "are deleted, with its token counts.",
    "style.elegant": "elegant",
    "style.direct": "direct",
    "style.playful": "playful",
    "style.warm": "warm",
    "style.none": "better left unanswered",
    # /temperature
    "temperature.value": "Your response temperature here: **{value}**",
    "temperature.base": "• Server base: {base} (set by a moderator)",
    "temperature.base_default": "• Server base: {base} (the default)",
    "temperature.adjustment": "• Your persona's adjustment: {adjustment}",
    "temperature.no_persona": "• No persona adjustment (you have no profile)",
    "temperature.clamped": "• Clamped to the allowed range {low}–{high}",
    "temperature.within": "• Within the allowed range {low}–{high}",
    "temperature.accepted": "• The AI deployment uses this temperature.",
    "temperature.not_accepted": "• The AI deployment doesn't accept a temperature (a reasoning "
    "model): it uses its own fixed value.",
    "temperature.set_done": "The server's base temperature is now {value}.",
    "temperature.reset_done": "The server's base temperature is back to the default.",
    "temperature.set_what": "Give a `value` from 0.0 to 2.0, or `reset: True`.",
    "temperature.out_of_range": "The temperature must be a number from {low} to {high}.",
    # Voice channels (commands/voice_audio.py)
    "voice.join_first": "Join a voice channel first, then ask again.",
    "voice.busy_elsewhere": "I'm already in {channel}: join me there.",
    "voice.same_channel": "Join me in {channel} to control the music.",
    "voice.stage_not_allowed": "I can't speak on the stage {channel}: give me the Mute Members "
    "permission there (or make me a stage moderator), then ask again.",
    "voice.connect_failed": "I couldn't connect to {channel}. Try again in a moment.",
    "voice.unavailable": "Voice isn't available on this bot: its server lacks the Opus audio "
    "library (libopus).",
    # Music (commands/music.py)
    "music.link_not_allowed": "I only play links from {hosts}, and direct links to audio "
    "files ({extensions}). For anything else, type words to search.",
    "music.private_network": "That link leads to a private network address, which I don't "
    "play from.",
    "music.not_audio": "That link isn't an audio file I can play.",
    "music.too_large": "That file is larger than {megabytes} MB, the largest I play.",
    "music.no_result": "I found nothing to play for that.",
    "music.live": "I don't play live streams: pick a recording.",
    "music.too_long": "That track is longer than {minutes} minutes, the longest I play.",
    "music.timeout": "The source took too long to answer: try again, or pick another one.",
    "music.busy": "I'm looking up too many songs right now: try again in a moment.",
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
    # /setup
    "setup.watch_lacks": "I can't work in {channel}: I lack {permissions}. Allow them for my "
    "role in the channel's permissions, then try again.",
    "setup.watching": "I'm now listening and talking in {channel}.",
    "setup.unwatched": "I no longer listen in {channel}; its new messages are not stored.",
    "setup.other_server": "Choose a channel of this server.",
    "setup.pace_how": "Give `every` ({low} to {high}) or `mentions-only: True`, not both.",
    "setup.pace_every": "every {every} messages",
    "setup.pace_mentions_only": "only when mentioned",
    "setup.this_server": "this server",
    "setup.pace_set": "Pace in {where}: {pace}.",
    "setup.show_title": "The bot's settings in this server",
    "setup.show_channels": "Watched channels",
    "setup.show_unwatched": "Operator's channels turned off here",
    "setup.show_pace": "Pace for the server",
    "setup.show_channel_paces": "Pace per channel",
    "setup.source_operator": "the operator's default",
    "setup.source_server": "set for this server",
    "setup.source_channel": "set for this channel",
    "setup.reset_question": "Go back to the operator's defaults for channels, pace, character "
    "and budget in this server?",
    "setup.reset_yes": "Reset",
    "setup.reset_no": "Cancel",
    "setup.reset_cancelled": "Nothing changed.",
    "setup.reset_done": "This server is back to the operator's defaults.",
    "setup.character_title": "Who the bot is here",
    "setup.character_name": "Name",
    "setup.character_description": "Who it is and how it talks",
    "setup.character_description_hint": "A dry-humoured librarian who answers in short, "
    "precise sentences.",
    "setup.character_empty": "Give the character a name and a description, then try again.",
    "setup.character_too_long": "A name has at most {name} characters and a description at "
    "most {description}. Shorten them and try again.",
    "setup.character_set": "In {where} I'm now **{name}**. My rules stay the same: no pings, "
    "and members' messages stay quotes. To show the name in the member list, change my "
    "nickname in the server settings.",
    "setup.character_reset": "In {where} I'm myself again.",
    "setup.budget_too_high": "The operator allows at most {ceiling} tokens a day per server. "
    "Choose that or less.",
    "setup.budget_how": "Give a positive number of tokens, for example `tokens-per-day: 200000`.",
    "setup.budget_set": "Daily budget: {server} tokens for the server{member}. When it is "
    "spent I rest until 00:00 UTC.",
    "setup.budget_per_member": ", {member} per member",
    "setup.show_character": "Character",
    "setup.show_character_none": "the bot itself",
    "setup.show_channel_characters": "Character per channel",
    "setup.show_budget": "Daily token budget",
    "setup.budget_none": "no cap",
    "setup.budget_tokens": "{tokens} tokens",
    "setup.show_today": "Tokens today",
    "setup.show_month": "Tokens this month",
    "setup.usage_total": "{total} in all",
    "setup.usage_profiles": "style profiles",
    "setup.usage_top": "Top members: {members}",
    "setup.usage_nothing": "nothing spent",
    "chat.resting": "I'm resting for today: this server's daily budget for my replies is spent. "
    "I'll be back after 00:00 UTC.",
    "chat.resting_member": "I'm resting for you today: your daily budget for my replies in "
    "this server is spent. I'll be back after 00:00 UTC.",
    # Passive chat (commands/chat_reply.py): a mention the model could not answer
    "chat.unanswered": "Sorry, I couldn't answer right now. Try again in a few minutes.",
}

# Slash command texts are their own English source; nothing to translate.
COMMAND_TEXTS: dict[str, str] = {}

"""/say end to end: the real elevenlabs SDK against a fake ElevenLabs, and the speech heard
over the music: checked as sound (a 1,000 Hz voice over a ducked 440 Hz song)."""

from __future__ import annotations

from dataclasses import replace

from app.settings import Secret, Settings
from tests.audio import mono, tone_power
from tests.conftest import Media
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.elevenlabs import Failure, FakeElevenLabs
from tests.fakes.voice_client import connect_recording_voice
from tests.harness import ALICE, BRUNO, ELEVENLABS_KEY, ELEVENLABS_VOICE, VOICE, running_bot
from tests.test_e2e_music import answer, command, voice_of

SPEECH, MUSIC = 1000, 440


def level(frames: list[bytes], frequency: int) -> float:
    """The mean strength of `frequency`, frame by frame (20 ms windows)."""
    return sum(tone_power(mono([frame]), frequency) for frame in frames) / len(frames)


async def test_say_speaks_over_the_ducked_music_which_carries_on(
    fake_discord: FakeDiscord,
    voice_settings: Settings,
    media: Media,
    fake_elevenlabs: FakeElevenLabs,
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        await answer(await command(fake_discord, "play", query=media.long_song))
        voice = voice_of(bot)
        await voice.wait_for_frames(10)
        start = len(voice.frames)
        reply = await answer(await command(fake_discord, "say", text="Hello, Lounge!"))
        assert reply["content"] == f"🔊 Said in <#{VOICE}>."
        assert reply["flags"] & 64
        # 0.6 s of speech (30 frames) and 0.5 s of music after it.
        await voice.wait_for_frames(start + 80)
        heard = voice.frames_since(start)
        speech = [n for n, frame in enumerate(heard) if level([frame], SPEECH) > 0.2]
        assert len(speech) >= 25
        full_music = level(voice.frames[2:start], MUSIC)
        # Past the 100 ms ramp, the song goes on under the voice at a quarter of its level.
        during = heard[speech[0] + 6 : speech[-1] - 1]
        assert level(during, SPEECH) > 0.25
        assert 0.2 < level(during, MUSIC) / full_music < 0.3
        # Then the song alone, back at full level.
        after = heard[speech[-1] + 8 : speech[-1] + 30]
        assert level(after, MUSIC) / full_music > 0.95
        assert level(after, SPEECH) < 0.02
        assert bot.voice_players.playing_count() == 1

        # The same phrase again comes from the cache: no second request.
        await answer(await command(fake_discord, "say", text="Hello, Lounge!"))
    [request] = fake_elevenlabs.requests
    assert request.text == "Hello, Lounge!"
    assert request.voice_id == ELEVENLABS_VOICE
    assert request.model_id == voice_settings.elevenlabs_model_id
    assert request.output_format == "mp3_44100_128"
    assert len(list((voice_settings.data_dir / "speech-cache").glob("*.mp3"))) == 1


async def test_say_alone_speaks_then_leaves_when_idle(
    fake_discord: FakeDiscord, voice_settings: Settings, fake_elevenlabs: FakeElevenLabs
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    async with running_bot(
        fake_discord, voice_settings, connect_voice=connect_recording_voice
    ) as bot:
        await answer(await command(fake_discord, "say", text="Just me"))
        voice = voice_of(bot)
        await fake_discord.wait_for_state(lambda: fake_discord.bot_voice_channel is None)
    assert level(voice.frames[3:-3], SPEECH) > 0.25


async def test_say_has_a_cooldown_per_member(
    fake_discord: FakeDiscord, voice_settings: Settings, fake_elevenlabs: FakeElevenLabs
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    await fake_discord.join_voice(BRUNO, VOICE)
    try:
        async with running_bot(
            fake_discord,
            voice_settings,
            connect_voice=connect_recording_voice,
            say_cooldown_seconds=600,
        ):
            first = await answer(await command(fake_discord, "say", text="One"))
            assert first["content"] == f"🔊 Said in <#{VOICE}>."
            again = await answer(await command(fake_discord, "say", text="Two"))
            assert again["content"].startswith("Slow down a little: try again in ")
            assert again["flags"] & 64
            other = await answer(await command(fake_discord, "say", user=BRUNO, text="Three"))
            assert other["content"] == f"🔊 Said in <#{VOICE}>."
    finally:
        await fake_discord.leave_voice(BRUNO)  # the fake Discord is shared by the tests
    assert [request.text for request in fake_elevenlabs.requests] == ["One", "Three"]


async def test_each_speech_failure_has_its_sentence(
    fake_discord: FakeDiscord, voice_settings: Settings, fake_elevenlabs: FakeElevenLabs
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    expected: dict[Failure, str] = {
        "invalid_api_key": "I couldn't speak: ElevenLabs rejected the bot's key.",
        "quota_exceeded": "I couldn't speak: the ElevenLabs quota is used up.",
        "rate_limited": "I couldn't speak: ElevenLabs is limiting requests.",
        "server_error": "I couldn't speak: ElevenLabs had a server error.",
        "hang": "I couldn't speak: ElevenLabs took too long to answer.",
    }
    async with running_bot(
        fake_discord,
        voice_settings,
        connect_voice=connect_recording_voice,
        elevenlabs_timeout=0.5,
        say_max_chars=20,
    ):
        for failure, sentence in expected.items():
            fake_elevenlabs.failure = failure
            reply = await answer(await command(fake_discord, "say", text=f"try {failure}"[:20]))
            assert reply["content"].startswith(sentence), failure
            assert reply["flags"] & 64
        too_long = await answer(await command(fake_discord, "say", text="x" * 21))
        assert too_long["content"] == "That's 21 characters; I say at most 20."
    assert fake_discord.bot_voice_channel is None  # failures never joined the channel


async def test_say_without_a_key_says_speech_is_not_set_up(
    fake_discord: FakeDiscord, voice_settings: Settings, fake_elevenlabs: FakeElevenLabs
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    unset = replace(voice_settings, elevenlabs_api_key=Secret(""))
    async with running_bot(fake_discord, unset, connect_voice=connect_recording_voice):
        reply = await answer(await command(fake_discord, "say", text="hello"))
    assert reply["content"].startswith("Speech isn't set up on this bot")
    assert fake_elevenlabs.requests == []


async def test_a_wrong_key_is_sent_explicitly_and_refused(
    fake_discord: FakeDiscord, voice_settings: Settings, fake_elevenlabs: FakeElevenLabs
) -> None:
    await fake_discord.join_voice(ALICE, VOICE)
    wrong = replace(voice_settings, elevenlabs_api_key=Secret(ELEVENLABS_KEY + "-old"))
    async with running_bot(fake_discord, wrong, connect_voice=connect_recording_voice):
        reply = await answer(await command(fake_discord, "say", text="hello"))
    assert reply["content"].startswith("I couldn't speak: ElevenLabs rejected the bot's key.")

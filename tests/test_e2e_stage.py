"""Stage channels end to end: the bot becomes a speaker where it may, and refuses where it may
not, instead of playing to an audience that cannot hear it."""

from __future__ import annotations

from collections.abc import Iterator

import discord
import pytest

from app.settings import Settings
from tests.conftest import Media
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.voice_client import connect_recording_voice
from tests.harness import ALICE, GENERAL, GUILD_ID, STAGE, running_bot
from tests.test_e2e_music import answer, command, voice_of

MUTE_MEMBERS = discord.Permissions(mute_members=True).value
VOICE_STATE = f"/guilds/{GUILD_ID}/voice-states/@me"
REFUSAL = (
    f"I can't speak on the stage <#{STAGE}>: give me the Mute Members permission there "
    "(or make me a stage moderator), then ask again."
)


@pytest.fixture
def on_stage(fake_discord: FakeDiscord) -> Iterator[None]:
    """Alice in the stage channel; she, the overwrites and the bot leave it afterwards."""
    yield
    fake_discord.clear_overwrites(STAGE)


def bot_role(fake_discord: FakeDiscord) -> int:
    [role] = [
        int(r["id"])
        for r in fake_discord.guild_payload()["roles"]
        if r.get("tags", {}).get("bot_id") == str(fake_discord.bot_user.id)
    ]
    return role


async def test_with_mute_members_the_bot_becomes_a_speaker_and_plays(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media, on_stage: None
) -> None:
    await fake_discord.join_voice(ALICE, STAGE)
    try:
        async with running_bot(
            fake_discord, voice_settings, connect_voice=connect_recording_voice
        ) as bot:
            reply = await answer(await command(fake_discord, "play", query=media.long_song))
            assert reply["content"].startswith("▶️ Now playing long")
            assert fake_discord.bot_voice_channel == STAGE
            patch = fake_discord.voice_state_patches[-1]
            assert (int(patch["channel_id"]), patch["suppress"]) == (STAGE, False)
            assert not fake_discord.bot_suppressed  # a speaker: the stage hears it
            await voice_of(bot).wait_for_frames(5)
            await answer(await command(fake_discord, "stop"))
    finally:
        await fake_discord.leave_voice(ALICE)


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("en-US", REFUSAL),
        (
            "pt-BR",
            f"Não posso falar no palco <#{STAGE}>: me dê a permissão Silenciar membros lá "
            "(ou me torne moderador do palco) e peça de novo.",
        ),
    ],
)
async def test_without_mute_members_play_and_say_are_refused_and_nothing_joins(
    fake_discord: FakeDiscord,
    voice_settings: Settings,
    media: Media,
    on_stage: None,
    locale: str,
    sentence: str,
) -> None:
    fake_discord.set_overwrite(STAGE, bot_role(fake_discord), deny=MUTE_MEMBERS)
    await fake_discord.join_voice(ALICE, STAGE)
    joins_before = len(fake_discord.voice_state_requests)
    try:
        async with running_bot(
            fake_discord, voice_settings, connect_voice=connect_recording_voice
        ) as bot:
            for name, option in (("play", media.song), ("say", "hello")):
                key = "query" if name == "play" else "text"
                interaction = await fake_discord.send_interaction(
                    name,
                    user=ALICE,
                    channel_id=GENERAL,
                    options=[{"name": key, "type": 3, "value": option}],
                    locale=locale,
                )
                reply = await answer(interaction)
                assert reply["content"] == sentence, name
                assert reply["flags"] & 64, name  # ephemeral
            assert await bot.services.music_queues.tracks(GUILD_ID) == []
    finally:
        await fake_discord.leave_voice(ALICE)
    assert fake_discord.voice_state_requests[joins_before:] == []  # never joined
    assert fake_discord.bot_voice_channel is None


async def test_a_refused_unsuppress_leaves_the_stage_and_says_so(
    fake_discord: FakeDiscord, voice_settings: Settings, media: Media, on_stage: None
) -> None:
    await fake_discord.join_voice(ALICE, STAGE)
    try:
        async with running_bot(
            fake_discord, voice_settings, connect_voice=connect_recording_voice
        ) as bot:
            # The bot's role was changed after the cache saw it: Discord says no.
            fake_discord.fail_next(
                "PATCH",
                VOICE_STATE,
                status=403,
                body={"code": 50013, "message": "Missing Permissions"},
            )
            reply = await answer(await command(fake_discord, "play", query=media.song))
            assert reply["content"] == REFUSAL
            await fake_discord.wait_for_state(
                lambda: fake_discord.bot_voice_channel is None, what="the bot to leave the stage"
            )
            assert await bot.services.music_queues.tracks(GUILD_ID) == []
    finally:
        await fake_discord.leave_voice(ALICE)


async def test_the_fake_refuses_a_speaker_without_mute_members(
    fake_discord: FakeDiscord, voice_settings: Settings, on_stage: None
) -> None:
    """The fake is as strict as Discord: no Mute Members, no leaving the audience; Request to
    Speak raises a hand."""
    request_to_speak = discord.Permissions(request_to_speak=True).value
    fake_discord.set_overwrite(
        STAGE, bot_role(fake_discord), allow=request_to_speak, deny=MUTE_MEMBERS
    )
    async with running_bot(fake_discord, voice_settings) as bot:
        guild = bot.get_guild(GUILD_ID)
        assert guild is not None
        stage = guild.get_channel(STAGE)
        assert isinstance(stage, discord.StageChannel)
        await guild.change_voice_state(channel=stage)
        await fake_discord.wait_for_state(lambda: fake_discord.bot_voice_channel == STAGE)
        assert fake_discord.bot_suppressed
        await fake_discord.wait_for_state(lambda: guild.me.voice is not None)
        with pytest.raises(discord.Forbidden):
            await guild.me.edit(suppress=False)
        await guild.me.request_to_speak()
        assert fake_discord.bot_suppressed
        assert fake_discord.voice_state_patches[-1]["request_to_speak_timestamp"]
        await guild.change_voice_state(channel=None)
        await fake_discord.wait_for_state(lambda: fake_discord.bot_voice_channel is None)

"""A member's data, end to end: `/persona export` (their texts, opened, from every server, and
nothing of anyone else), once an hour; `python -m app forget-member`; `/privacy` in both
languages; and no answer or log line an admin or another member can see holds a profile."""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from app.main import main, run_forget_member
from app.settings import Secret, Settings
from tests.conftest import on_both_stores
from tests.fakes.azure_openai import FakeAzureOpenAI
from tests.fakes.discord_server import FakeDiscord, FakeInteraction, FakeUser
from tests.harness import (
    ALICE,
    BRUNO,
    GENERAL,
    GUILD_ID,
    MODERATOR,
    OFFTOPIC,
    process_environment,
    run_app,
    running_bot,
    store_of,
)
from tests.privacy_seed import held_by, message_text, profile_text, seed_server

JSON = dict[str, Any]
EPHEMERAL = 64
# A server the bot is no longer in, where Alice wrote too: her export covers it.
ELSEWHERE = 930_000_000_000_000_001
ELSEWHERE_CHANNEL = 930_000_000_000_000_002


def option(name: str, value: object) -> JSON:
    return {"name": name, "type": 3, "value": value}


async def answer(interaction: FakeInteraction) -> JSON:
    return await interaction.wait_for_response()


def exported(response: JSON) -> JSON:
    [upload] = response["files"]
    data = upload["data"]
    if upload["filename"].endswith(".gz"):
        data = gzip.decompress(data)
    parsed: JSON = json.loads(data)
    return parsed


async def seed_two_servers(settings: Settings) -> None:
    async with store_of(settings) as store:
        await seed_server(store, GUILD_ID, OFFTOPIC, [ALICE.id, BRUNO.id], first_id=5_000)
        await seed_server(store, ELSEWHERE, ELSEWHERE_CHANNEL, [ALICE.id], first_id=6_000)


@on_both_stores
async def test_export_holds_the_members_opened_texts_everywhere_and_nothing_of_others(
    fake_discord: FakeDiscord, fake_azure: FakeAzureOpenAI, settings: Settings
) -> None:
    settings = replace(settings, store_encryption_key=Secret(Fernet.generate_key().decode()))
    await seed_two_servers(settings)
    async with running_bot(fake_discord, settings):
        asked = await fake_discord.send_interaction(
            "persona", user=ALICE, channel_id=GENERAL, options=[option("action", "export")]
        )
        response = await answer(asked)
        again = await fake_discord.send_interaction(
            "persona", user=ALICE, channel_id=GENERAL, options=[option("action", "export")]
        )
        refused = await answer(again)
    assert asked.deferred  # it read the store after acknowledging
    assert response["message"]["flags"] & EPHEMERAL
    assert "6 messages" in response["message"]["content"]
    export = exported(response)
    text = json.dumps(export)
    assert export["format"] == 1
    assert export["member_id"] == str(ALICE.id)
    contents = [m["content"] for m in export["messages"]]
    assert contents == [message_text(GUILD_ID, ALICE.id, n) for n in range(3)] + [
        message_text(ELSEWHERE, ALICE.id, n) for n in range(3)
    ]
    first = export["messages"][0]
    assert first["id"] == "5000" and first["guild_id"] == str(GUILD_ID)
    assert first["channel_id"] == str(OFFTOPIC)
    assert first["created_at"] and first["edited_at"]
    servers = {s["guild_id"]: s for s in export["servers"]}
    assert set(servers) == {str(GUILD_ID), str(ELSEWHERE)}
    here = servers[str(GUILD_ID)]
    assert here["profile"]["summary"] == profile_text(GUILD_ID, ALICE.id)
    assert here["profile"]["built_at"]
    assert here["privacy_choice"]["choice"] == "opted_in"
    [reply_id] = here["bot_reply_ids"]
    assert isinstance(reply_id, str) and reply_id.isdigit()
    assert [row["prompt_tokens"] for row in here["token_usage"]] == [900]
    for kind in ("messages", "profile", "privacy_choice", "bot_reply_ids", "token_usage"):
        about = export["about"][kind]
        assert about["purpose"] and "retention" in about and "recipients" in about
    assert "Azure OpenAI" in export["about"]["messages"]["recipients"][0]
    # Nothing of Bruno: not his texts, his profile, his id nor his name.
    assert str(BRUNO.id) not in text
    assert "bruno" not in text.lower()
    assert refused["message"]["flags"] & EPHEMERAL
    assert "within the last hour" in refused["message"]["content"]
    assert refused["files"] == []


@on_both_stores
async def test_forget_member_leaves_nothing_of_the_id_in_any_server(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    await seed_two_servers(settings)
    extra = {"DATABASE_URL": settings.database_url.reveal()} if settings.database_url else {}
    env = process_environment(settings, fake_discord, **extra)
    process = await run_app(env, "forget-member", str(ALICE.id))
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0] == f"Deleted what was stored about user {ALICE.id} in every server:"
    assert "  messages: 6" in lines
    assert "  profiles: 2" in lines
    assert "  privacy choices (opt-out marks included): 2" in lines
    assert "  token usage rows: 2" in lines
    async with store_of(settings) as store:
        assert await store.messages_of_author(ALICE.id, limit=100) == []
        assert await store.usage_of_member(ALICE.id) == []
        for kind in ("persona", "privacy", "bot_replies"):
            keys = [key for key, _ in await store.state_items(kind)]
            assert not [key for key in keys if key.endswith(f":{ALICE.id}")], kind
        assert len(await store.messages_of_author(BRUNO.id, limit=100)) == 3
        assert "persona" in await held_by(store, GUILD_ID)  # Bruno's


@pytest.mark.parametrize(
    ("locale", "title", "link"),
    [
        ("en-US", "What this bot keeps", "Read the operator's privacy policy"),
        ("pt-BR", "O que este bot guarda", "Leia a política de privacidade do operador"),
    ],
)
async def test_privacy_answers_in_the_members_language_with_the_policy_link(
    fake_discord: FakeDiscord, settings: Settings, locale: str, title: str, link: str
) -> None:
    policy = "https://bot.example/privacy"
    async with running_bot(fake_discord, settings, privacy_policy_url=policy):
        asked = await fake_discord.send_interaction(
            "privacy", user=BRUNO, channel_id=GENERAL, locale=locale
        )
        response = await answer(asked)
    message = response["message"]
    assert message["flags"] & EPHEMERAL
    [embed] = message["embeds"]
    assert embed["title"].startswith(title)
    assert embed["url"] == policy
    fields = " ".join(f["value"] for f in embed["fields"])
    assert f"[{link}]({policy})" in fields
    assert "30" in fields and "Azure OpenAI" in fields


async def test_no_answer_file_or_log_line_for_an_admin_or_another_member_holds_a_profile(
    fake_discord: FakeDiscord, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await seed_two_servers(settings)
    secret = profile_text(GUILD_ID, ALICE.id)
    seen: list[str] = []

    async def everything(user: FakeUser, name: str, *options: JSON) -> None:
        asked = await fake_discord.send_interaction(
            name, user=user, channel_id=GENERAL, options=list(options) or None
        )
        response = await answer(asked)
        seen.append(json.dumps(response["message"]))
        seen.extend(f["data"].decode(errors="replace") for f in response["files"])
        if response["files"] and response["files"][0]["filename"].endswith(".gz"):
            seen.append(gzip.decompress(response["files"][0]["data"]).decode())

    async with running_bot(fake_discord, settings):
        for user in (BRUNO, MODERATOR):
            await everything(user, "persona")
            await everything(user, "persona", option("action", "export"))
            await everything(user, "privacy")
            await everything(user, "temperature")
        await everything(MODERATOR, "setup", {"name": "show", "type": 1, "options": []})
    assert any(profile_text(GUILD_ID, BRUNO.id) in text for text in seen)  # his own, to him
    assert not [text for text in seen if secret in text]
    assert secret not in caplog.text


def test_forget_member_refuses_what_is_not_a_user_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["forget-member", "not-an-id"])
    assert refused.value.code == 2  # as every command given a wrong argument
    assert "USER_ID" in capsys.readouterr().err


async def test_forget_member_says_in_one_line_when_the_store_cannot_open(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    code = await run_forget_member(replace(settings, data_dir=not_a_directory), ALICE.id)
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "DATA_DIR" in err

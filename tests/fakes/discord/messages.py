"""Messages: building them as Discord stores them, editing them, and the events they make."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.discord import payloads
from tests.fakes.discord.model import FakeUser, Model
from tests.fakes.discord.protocol import (
    CDN_PREFIX,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    JSON,
    Address,
    Dispatch,
    now_iso,
)

_MENTION_RE = re.compile(r"<@!?(\d+)>")


def attachments_from(body: JSON, files: list[JSON]) -> list[JSON]:
    """Attachment specs for the uploaded ``files``, named by the body's ``attachments``."""
    out: list[JSON] = []
    for index, f in enumerate(files):
        meta: JSON = next(
            (a for a in body.get("attachments") or [] if str(a.get("id")) == str(index)),
            {},
        )
        out.append(
            {
                "filename": meta.get("filename") or f["filename"] or "file.bin",
                "size": len(f["data"]),
                "content_type": f["content_type"],
                "description": meta.get("description"),
                "data": f["data"],
            }
        )
    return out


class Messages:
    def __init__(self, model: Model, address: Address, dispatch: Dispatch) -> None:
        self._model = model
        self._address = address
        self._dispatch = dispatch

    def build(
        self,
        *,
        channel_id: int,
        author: FakeUser,
        content: str,
        webhook_id: int | None = None,
        message_type: int = 0,
        mentions: list[FakeUser] | None = None,
        reply_to: int | None = None,
        attachments: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
        components: list[JSON] | None = None,
        flags: int = 0,
        nonce: Any = None,
        tts: bool = False,
        message_id: int | None = None,
    ) -> JSON:
        """A new message (not stored yet): mentions resolved, a reply typed 19. Its id is new,
        unless given (a forum post's starter message has the id of its thread)."""
        model = self._model
        in_guild = model.is_guild_channel(channel_id)
        mid = message_id if message_id is not None else model.snowflake()
        if webhook_id is not None:
            author_payload: JSON = {
                "id": str(webhook_id),
                "username": author.username,
                "avatar": None,
                "discriminator": "0000",
                "bot": True,
                "global_name": None,
                "public_flags": 0,
                "flags": 0,
            }
        else:
            author_payload = author.payload()
        mention_users = list(mentions or [])
        for match in _MENTION_RE.findall(content):
            known = model.users.get(int(match))
            if known is not None and all(u.id != known.id for u in mention_users):
                mention_users.append(known)
        if reply_to is not None and message_type == 0:
            message_type = 19
        msg: JSON = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": author_payload,
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": tts,
            "mention_everyone": "@everyone" in content or "@here" in content,
            "mentions": [
                payloads.user_with_member(model, u) if in_guild else u.payload()
                for u in mention_users
            ],
            "mention_roles": [],
            "attachments": [self.attachment(a) for a in attachments or []],
            "embeds": list(embeds or []),
            "pinned": False,
            "type": message_type,
            "flags": flags,
            "components": list(components or []),
        }
        if nonce is not None:
            msg["nonce"] = nonce
        if in_guild:
            msg["guild_id"] = str(model.guild_of(channel_id))
            if webhook_id is None:
                msg["member"] = payloads.member_fields(model, author.id)
        if webhook_id is not None:
            msg["webhook_id"] = str(webhook_id)
        if reply_to is not None:
            msg["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
            }
            if in_guild:
                msg["message_reference"]["guild_id"] = str(model.guild_of(channel_id))
            ref = model.messages.get(reply_to)
            msg["referenced_message"] = dict(ref) if ref is not None else None
            if ref is not None and webhook_id is None:
                ref_author_id = int(ref["author"]["id"])
                ref_user = model.users.get(ref_author_id)
                if ref_user is not None and all(u.id != ref_author_id for u in mention_users):
                    msg["mentions"].append(
                        payloads.user_with_member(model, ref_user)
                        if in_guild
                        else ref_user.payload()
                    )
        return msg

    def attachment(self, data: JSON) -> JSON:
        """An attachment as a message payload carries it. Given its bytes (``data``), the CDN
        serves them at its ``url``, and ``size`` (unless given) is theirs."""
        aid = int(data.get("id") or self._model.snowflake())
        filename = data.get("filename", "file.bin")
        url = f"{self._address.base}{CDN_PREFIX}/{aid}/{filename}"
        content: bytes | None = data.get("data")
        if content is not None:
            self._model.attachment_files[aid] = (content, data.get("content_type"))
        size = data.get("size", len(content) if content is not None else 0)
        return {
            "id": str(aid),
            "filename": filename,
            "size": int(size),
            "url": data.get("url", url),
            "proxy_url": data.get("proxy_url", url),
            "content_type": data.get("content_type"),
            "description": data.get("description"),
            "flags": 0,
        }

    def apply_edit(self, msg: JSON, body: JSON, files: list[JSON]) -> None:
        """Edit ``msg`` in place as a PATCH with ``body`` (and uploaded ``files``) does."""
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                msg[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        msg.pop("allowed_mentions", None)
        if "flags" in body and body["flags"] is not None:
            keep = int(msg.get("flags", 0)) & FLAG_EPHEMERAL
            # An edit never makes a message ephemeral or public: that was chosen when sent.
            msg["flags"] = (int(body["flags"]) & ~(FLAG_LOADING | FLAG_EPHEMERAL)) | keep
        else:
            msg["flags"] = int(msg.get("flags", 0)) & ~FLAG_LOADING
        if "attachments" in body or files:
            kept = [
                a
                for a in msg.get("attachments", [])
                if any(str(b.get("id")) == a["id"] for b in body.get("attachments") or [])
            ]
            msg["attachments"] = kept + [self.attachment(a) for a in attachments_from(body, files)]
        msg["edited_timestamp"] = now_iso()

    async def post(
        self,
        channel_id: int,
        author: FakeUser,
        content: str,
        *,
        webhook_id: int | None = None,
        message_type: int = 0,
        mentions: list[FakeUser] | None = None,
        reply_to: int | None = None,
        attachments: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
        in_guild: bool = True,
        message_id: int | None = None,
    ) -> JSON:
        model = self._model
        model.users.setdefault(author.id, author)
        if in_guild:
            if not model.is_guild_channel(channel_id):
                raise KeyError(f"unknown guild channel {channel_id}")
        else:
            channel_id = int(model.dm_channel_for(author, channel_id)["id"])
        msg = self.build(
            channel_id=channel_id,
            author=author,
            content=content,
            webhook_id=webhook_id,
            message_type=message_type,
            mentions=mentions,
            reply_to=reply_to,
            attachments=attachments,
            embeds=embeds,
            message_id=message_id,
        )
        model.store(msg)
        await self._dispatch("MESSAGE_CREATE", msg)
        return msg

    async def edit(self, message_id: int, content: str) -> JSON:
        msg = self._model.messages[message_id]
        msg["content"] = content
        msg["edited_timestamp"] = now_iso()
        await self._dispatch("MESSAGE_UPDATE", dict(msg))
        return msg

    async def delete(self, message_id: int) -> None:
        msg = self._model.messages.pop(message_id)
        data: JSON = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if "guild_id" in msg:
            data["guild_id"] = msg["guild_id"]
        await self._dispatch("MESSAGE_DELETE", data)

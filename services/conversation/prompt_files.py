"""What of the members' attached files a reply decision shows the model, and how.

- Images (PNG, JPEG, WebP, GIF) of the trigger and of its context, newest first, at most
  `max_images`: each is read (downloaded, downscaled) and shown after the chat as an image
  part; in the chat its message says `[image 1: cat.png]`. An image past the limit, one that
  could not be read, or any image when the deployment takes none, is only named:
  `[image: cat.png]`.
- Text files of the trigger (`.txt`, `.md`, source code...; see `is_text_file`), at most
  `MAX_TEXT_FILES`, are quoted in `<files>` (cut at 8,000 characters), as data like the
  messages; in the chat its message says `[file: notes.txt]`.
- Any other file is named: `[file: report.pdf]`.

Everything here is member data: it goes into the user message, never the system prompt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.attachment_files import (
    AttachmentRefused,
    PreparedImage,
    is_image,
    is_text_file,
)
from services.conversation.reply_text import quote_as_data
from services.llm import PromptImage
from services.store import StoredAttachment, StoredMessage

log = logging.getLogger(__name__)

# Each text file costs up to ~2,000 prompt tokens: a few is what a decision can carry.
MAX_TEXT_FILES = 3

FileKey = tuple[int, int]  # (message id, the attachment's place in the message)


class AttachmentReader(Protocol):
    """Reads an attachment for the model (`services/attachment_files.AttachmentFiles`)."""

    async def image(self, attachment: StoredAttachment) -> PreparedImage: ...

    async def text(self, attachment: StoredAttachment) -> str: ...


@dataclass(frozen=True)
class ShownImage:
    number: int  # 1, 2... as the chat names it
    author_name: str
    filename: str
    image: PreparedImage


@dataclass(frozen=True)
class QuotedFile:
    author_name: str
    filename: str
    text: str


@dataclass(frozen=True)
class PromptFiles:
    """The files one decision shows: images by (message, place), and quoted text files."""

    images: dict[FileKey, ShownImage] = field(default_factory=dict)
    texts: dict[FileKey, QuotedFile] = field(default_factory=dict)

    def without_images(self) -> PromptFiles:
        return PromptFiles({}, self.texts)

    def prompt_images(self) -> tuple[PromptImage, ...]:
        shown = sorted(self.images.values(), key=lambda image: image.number)
        return tuple(
            PromptImage(
                caption=quote_as_data(
                    {"image": image.number, "file": image.filename, "author": image.author_name}
                ),
                data_url=image.image.data_url,
            )
            for image in shown
        )

    def lines_for(self, message: StoredMessage) -> list[str]:
        """How the chat names each file of the message."""
        lines = []
        for place, attachment in enumerate(message.attachments):
            key = (message.message_id, place)
            if key in self.images:
                lines.append(f"[image {self.images[key].number}: {attachment.filename}]")
            elif is_image(attachment):
                lines.append(f"[image: {attachment.filename}]")
            else:
                lines.append(f"[file: {attachment.filename}]")
        return lines

    def files_block(self) -> str:
        if not self.texts:
            return ""
        quoted = [
            quote_as_data({"file": f.filename, "author": f.author_name, "text": f.text})
            for f in self.texts.values()
        ]
        return "\n<files>\n" + "\n".join(quoted) + "\n</files>"


NO_FILES = PromptFiles()


def _newest_first_images(
    context: Sequence[StoredMessage],
) -> list[tuple[FileKey, StoredMessage, StoredAttachment]]:
    found = []
    for message in reversed(context):
        if message.from_bot:
            continue
        for place, attachment in enumerate(message.attachments):
            if is_image(attachment):
                found.append(((message.message_id, place), message, attachment))
    return found


async def read_files(
    reader: AttachmentReader,
    context: Sequence[StoredMessage],
    trigger_id: int,
    *,
    max_images: int,
) -> PromptFiles:
    """Read what the decision shows: the newest `max_images` images of the context (the
    trigger's first), and the trigger's text files, all at once. A file that cannot be read
    is only named (and logged)."""
    chosen = _newest_first_images(context)[:max_images]
    trigger = next((m for m in context if m.message_id == trigger_id), None)
    texts = []
    if trigger is not None:
        texts = [
            ((trigger.message_id, place), trigger, attachment)
            for place, attachment in enumerate(trigger.attachments)
            if is_text_file(attachment)
        ][:MAX_TEXT_FILES]
    read_images = await asyncio.gather(*(reader.image(a) for _, _, a in chosen),
                                       return_exceptions=True)  # fmt: skip
    read_texts = await asyncio.gather(*(reader.text(a) for _, _, a in texts),
                                      return_exceptions=True)  # fmt: skip
    images: dict[FileKey, ShownImage] = {}
    for (key, message, attachment), image in zip(chosen, read_images, strict=True):
        if isinstance(image, PreparedImage):
            number = len(images) + 1
            images[key] = ShownImage(number, message.author_name, attachment.filename, image)
        else:
            _log_unread(attachment, image)
    quoted: dict[FileKey, QuotedFile] = {}
    for (key, message, attachment), text in zip(texts, read_texts, strict=True):
        if isinstance(text, str):
            quoted[key] = QuotedFile(message.author_name, attachment.filename, text)
        else:
            _log_unread(attachment, text)
    return PromptFiles(images, quoted)


def _log_unread(attachment: StoredAttachment, error: BaseException) -> None:
    if not isinstance(error, AttachmentRefused):
        raise error  # a bug, not a file the bot may not read
    log.info("attachment %s not shown to the model: %s", attachment.filename, error.reason)

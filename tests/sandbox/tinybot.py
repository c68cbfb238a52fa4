"""A tiny python-telegram-bot ``Application`` polling the sandbox from a background thread.

It stands in for the real bot in the sandbox's own tests: ``/start`` asks for consent with
동의/거부 inline buttons, a tap is answered and followed by a reply keyboard, and "제안하기"
asks for a title. Korean literals are fine here: this is test data, not product text.
"""

from __future__ import annotations

import asyncio
import io
import threading
from types import TracebackType

import segno
from telegram import InlineKeyboardButton
from telegram import InlineKeyboardMarkup
from telegram import ReplyKeyboardMarkup
from telegram import Update
from telegram.ext import Application
from telegram.ext import CallbackQueryHandler
from telegram.ext import CommandHandler
from telegram.ext import ContextTypes
from telegram.ext import MessageHandler
from telegram.ext import filters

CONSENT = "개인정보 수집·이용에 동의하시나요?"
THANKS = "동의해 주셔서 고마워요. 무엇을 해 볼까요?"
DECLINED = "동의하지 않으셨어요. 언제든 다시 시작할 수 있어요."
ASK_TITLE = "제안 제목을 보내 주세요."


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet (with the deep-link payload if any) and ask for consent."""
    assert update.effective_message is not None
    payload = f" ({context.args[0]})" if context.args else ""
    buttons = [
        InlineKeyboardButton("동의", callback_data="consent:yes"),
        InlineKeyboardButton("거부", callback_data="consent:no"),
    ]
    await update.effective_message.reply_html(
        f"<b>따복 참여 게이트웨이</b>에 오신 것을 환영해요{payload}.\n{CONSENT}",
        reply_markup=InlineKeyboardMarkup([buttons]),
    )


async def consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the tap, drop the buttons, and offer the first actions."""
    query = update.callback_query
    assert query is not None and query.message is not None
    agreed = query.data == "consent:yes"
    await query.answer("고마워요!" if agreed else "알겠어요.")
    await query.edit_message_reply_markup(None)
    keyboard = ReplyKeyboardMarkup([["제안하기", "공감하기"]], resize_keyboard=True)
    await query.message.reply_text(
        THANKS if agreed else DECLINED, reply_markup=keyboard if agreed else None
    )


async def propose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for the title of a new proposal."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(ASK_TITLE)


async def show_qr(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the on-site QR code: a deep link with a session payload."""
    assert update.effective_message is not None
    bot_name = context.bot.username
    buffer = io.BytesIO()
    segno.make(f"https://t.me/{bot_name}?start=s_42").save(buffer, kind="png", scale=8, border=4)
    await update.effective_message.reply_photo(buffer.getvalue(), caption="현장 QR 코드")


async def echo_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send a person's photo back: a bot picture that holds no QR code."""
    message = update.effective_message
    assert message is not None and message.photo
    await message.reply_photo(message.photo[-1].file_id)


class TinyBot:
    """Run the tiny bot against ``api_base_url`` while the ``with`` block lasts."""

    def __init__(self, token: str, api_base_url: str, file_base_url: str) -> None:
        self.app = (
            Application.builder()
            .token(token)
            .base_url(api_base_url)
            .base_file_url(file_base_url)
            .build()
        )
        self.app.add_handler(CommandHandler("start", start))
        self.app.add_handler(CommandHandler("qr", show_qr))
        self.app.add_handler(CallbackQueryHandler(consent, pattern=r"^consent:"))
        self.app.add_handler(MessageHandler(filters.Regex(r"^제안하기$"), propose))
        self.app.add_handler(MessageHandler(filters.PHOTO, echo_photo))
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        async with self.app:
            await self.app.start()
            assert self.app.updater is not None
            await self.app.updater.start_polling(poll_interval=0.0, timeout=1)
            self._ready.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.05)
            await self.app.updater.stop()
            await self.app.stop()

    def __enter__(self) -> TinyBot:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the tiny bot did not start polling")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(15)

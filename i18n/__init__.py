"""Korean (default) and English message catalogs, and formatting for people.

A leaf package: it imports nothing of ours. Other packages speak in message keys
(``bot.start.welcome``) and ask a :class:`Catalog` for the text in a person's locale.
"""

from i18n.catalog import DEFAULT_LOCALE
from i18n.catalog import LOCALES
from i18n.catalog import Catalog
from i18n.catalog import locale_for

__all__ = ["DEFAULT_LOCALE", "LOCALES", "Catalog", "locale_for"]

"""The only place SQL lives: ``pt_`` projection tables and repositories over them."""

from participation.store.tables import create_all
from participation.store.tables import metadata

__all__ = ["create_all", "metadata"]

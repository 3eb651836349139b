"""Limit/offset pages, the one listing shape of the admin API."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 500

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

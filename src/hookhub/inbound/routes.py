"""HTTP routes of this part; ``create_app`` includes every router in :data:`ROUTERS`."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []

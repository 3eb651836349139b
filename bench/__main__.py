"""Run every benchmark in turn; each prints its own table."""

from __future__ import annotations

import asyncio

from bench import publish


def main() -> None:
    asyncio.run(publish.main())


if __name__ == "__main__":
    main()

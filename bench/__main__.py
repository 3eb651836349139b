"""Run every benchmark in turn; each prints its own table."""

from __future__ import annotations

import asyncio

from bench import ingest, outbound, publish, realtime


def main() -> None:
    asyncio.run(publish.main())
    outbound.run()
    asyncio.run(realtime.main())
    asyncio.run(ingest.main())


if __name__ == "__main__":
    main()

"""Column types: UTC datetimes are written to SQLite as SQLAlchemy writes them, and read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from hookhub.store.models import UTCDateTime

MOMENTS = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
    datetime(2026, 12, 3, 17, 0, tzinfo=UTC),
    datetime(2026, 12, 3, 17, 0, 0, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_a_datetime_is_stored_in_sqlite_as_sqlalchemys_own_text(moment: datetime) -> None:
    dialect = sqlite.dialect()
    column_type = UTCDateTime()
    ours = column_type.dialect_impl(dialect).bind_processor(dialect)
    sqlalchemys = sqlite.DATETIME().bind_processor(dialect)  # type: ignore[no-untyped-call]
    assert ours is not None and sqlalchemys is not None
    as_utc = column_type.process_bind_param(moment, dialect)

    assert ours(as_utc) == sqlalchemys(as_utc)
    assert ours(None) is None


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_a_stored_datetime_reads_back_as_the_same_utc_moment(moment: datetime) -> None:
    dialect = sqlite.dialect()
    impl = UTCDateTime().dialect_impl(dialect)
    write = impl.bind_processor(dialect)
    read = impl.result_processor(dialect, None)
    assert write is not None and read is not None

    back = read(write(moment))

    assert back == moment and back.tzinfo is UTC

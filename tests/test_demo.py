import stat
from pathlib import Path

from hookhub.demo import load_or_create_admin_token


def test_token_is_created_once_with_owner_only_mode(tmp_path: Path) -> None:
    path = tmp_path / ".hookhub-admin-token"
    token, created = load_or_create_admin_token(path)
    assert created
    assert token.startswith("hh_") and len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = load_or_create_admin_token(path)
    assert (again, created_again) == (token, False)


def test_widened_file_is_narrowed_again(tmp_path: Path) -> None:
    path = tmp_path / "token"
    token, _ = load_or_create_admin_token(path)
    path.chmod(0o644)
    assert load_or_create_admin_token(path) == (token, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

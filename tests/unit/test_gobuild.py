"""The one `go install` path both Go tools (Toxiproxy, Compose) are built by."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InfrastructureError
from harness.gobuild import GoTool, go_install

TOOL = GoTool("Thing 1.0", "example.com/thing/cmd", "v1.0.0", "", "cmd", 60, "or set AFTERSHOCK_THING")


def test_without_go_the_error_says_what_to_install_and_the_alternative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("harness.gobuild.find_go", lambda: None)
    with pytest.raises(InfrastructureError) as err:
        go_install(TOOL, tmp_path / "bin" / "thing", quiet=True)
    text = str(err.value)
    assert "Thing 1.0 is needed and cannot be built" in text and "AFTERSHOCK_THING" in text
    assert not (tmp_path / "bin" / "thing").exists()


def test_a_failed_build_leaves_nothing_at_the_cached_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho 'no such module' >&2\nexit 1\n")
    fake_go.chmod(0o755)
    monkeypatch.setattr("harness.gobuild.find_go", lambda: str(fake_go))
    with pytest.raises(InfrastructureError) as err:
        go_install(TOOL, tmp_path / "bin" / "thing", quiet=True)
    assert "building Thing 1.0 failed" in str(err.value) and "no such module" in str(err.value)
    assert list((tmp_path / "bin").iterdir()) == []


def test_a_built_binary_is_renamed_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_go = tmp_path / "go"  # writes the binary where go install would: $GOBIN/<name>
    fake_go.write_text(
        '#!/bin/sh\nprintf "#!/bin/sh\\necho built\\n" > "$GOBIN/cmd"\nchmod +x "$GOBIN/cmd"\n'
    )
    fake_go.chmod(0o755)
    monkeypatch.setattr("harness.gobuild.find_go", lambda: str(fake_go))
    built = go_install(TOOL, tmp_path / "bin" / "thing", quiet=True)
    assert built == tmp_path / "bin" / "thing" and built.read_text().endswith("echo built\n")
    assert [p.name for p in (tmp_path / "bin").iterdir()] == ["thing"]  # no temporary dir left

"""The real Compose, run as a command: one project name, the application's file and our override.

Every call has a timeout and fails as an :class:`InfrastructureError` quoting the command and the
end of Compose's own output, so a failure reads like Compose's and is repeatable by hand.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InfrastructureError

TIMEOUT = 120.0  # seconds for a Compose command that is not a build
BUILD_TIMEOUT = 1800.0


def project_name(run_id: str) -> str:
    """Compose project names are ``[a-z0-9][a-z0-9_-]*``; run ids are close to that already."""
    return "aftershock-" + re.sub(r"[^a-z0-9_-]+", "-", run_id.lower()).strip("-")


@dataclass
class ComposeCLI:
    """``docker-compose -p <project> -f <file>... <args>``, from the application's directory."""

    binary: Path
    project: str
    files: list[Path]
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        argv = [str(self.binary), "--project-name", self.project, "--project-directory", str(self.workdir)]
        for f in self.files:
            argv += ["--file", str(f)]
        return [*argv, *args]

    def run(
        self, *args: str, timeout: float = TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = self.command(*args)
        env = {**os.environ, **self.env, "COMPOSE_PROGRESS": "plain", "COMPOSE_ANSI": "never"}
        env.pop("COMPOSE_FILE", None)
        env.pop("COMPOSE_PROJECT_NAME", None)  # the run's own name and files, never the shell's
        try:
            done = subprocess.run(
                argv,
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                start_new_session=True,  # a Ctrl-C at the terminal is the harness's to handle, not Compose's
            )
        except subprocess.TimeoutExpired:
            raise InfrastructureError(
                f"compose did not finish within {timeout:g}s: {' '.join(argv)}"
            ) from None
        except OSError as exc:
            raise InfrastructureError(f"could not run compose ({argv[0]}): {exc}") from None
        if check and done.returncode != 0:
            raise self.failure(done, argv)
        return done

    @staticmethod
    def failure(done: subprocess.CompletedProcess[str], argv: list[str]) -> InfrastructureError:
        """The error of a failed command: the command, and the end of Compose's own output."""
        tail = "\n".join("    | " + line for line in (done.stderr or done.stdout).strip().splitlines()[-20:])
        return InfrastructureError(f"compose failed (exit {done.returncode}): {' '.join(argv)}\n{tail}")

    def config(self) -> dict[str, Any]:
        """The project as Compose itself resolves it (interpolation, extends, defaults applied)."""
        out = self.run("config", "--format", "json").stdout
        try:
            data = json.loads(out)
        except json.JSONDecodeError as exc:
            raise InfrastructureError(f"compose config printed no JSON ({exc}): {out[:300]}") from None
        if not isinstance(data, dict):
            raise InfrastructureError("compose config printed no project")
        return data

"""Write packages/<tool>/CLI.md from each tool's typer help (run: .venv/bin/python tools/cli_docs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ["qformat", "qtrain", "qsearch", "accelsim", "ibexgen", "cimnoise", "qviz"]


def help_text(args: list[str]) -> str:
    env = dict(os.environ, COLUMNS="110", NO_COLOR="1", TERM="dumb", _TYPER_FORCE_DISABLE_TERMINAL="1")
    exe = Path(sys.executable).parent / args[0]
    p = subprocess.run([str(exe), *args[1:], "--help"], capture_output=True, text=True, env=env)
    return (p.stdout or p.stderr).rstrip()


def commands(tool: str) -> list[str]:
    import importlib

    import typer

    app = importlib.import_module(f"{tool}.cli").app
    group = typer.main.get_command(app)
    return sorted(getattr(group, "commands", {}) or {})


def main() -> None:
    for tool in TOOLS:
        parts = [f"# `{tool}` command line", "", f"Generated from the typer help by `tools/cli_docs.py`; "
                 f"`{tool} COMMAND --help` prints the same.", "", "```text", help_text([tool]), "```"]
        for cmd in commands(tool):
            parts += ["", f"## `{tool} {cmd}`", "", "```text", help_text([tool, cmd]), "```"]
        (ROOT / "packages" / tool / "CLI.md").write_text("\n".join(parts) + "\n")
        print(f"wrote packages/{tool}/CLI.md", file=sys.stderr)


if __name__ == "__main__":
    main()

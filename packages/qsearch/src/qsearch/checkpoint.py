"""Checkpoints: a killed search resumes where it stopped.

* :class:`TrialLog` - JSON lines: a header naming the search configuration
  (its hash), then one line per evaluated candidate, flushed and fsynced as
  each arrives. Reopening with the same configuration returns what was done;
  a different configuration is refused (it would mix two searches).
* :func:`save_state` / :func:`load_state` - an atomic ``torch.save`` of a
  training state (DNAS: supernet, alphas, optimisers, history, epoch).
* :class:`ResultCache` - results by content key in a directory (measured costs
  of ``--cost-cmd``), shared by runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional

from qformat.errors import QFormatError


def config_hash(config: Any) -> str:
    """A stable short hash of a JSON-able configuration."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


class TrialLog:
    """Append-only log of finished candidates for one search configuration."""

    def __init__(self, path: Optional[str | os.PathLike], config: Any):
        self.path = Path(path) if path else None
        self.hash = config_hash(config)
        self.done: dict[str, dict] = {}
        if self.path is None:
            return
        if self.path.exists() and self.path.stat().st_size:
            lines = self.path.read_text().splitlines()
            try:
                head = json.loads(lines[0])
            except (json.JSONDecodeError, IndexError):
                raise QFormatError(str(self.path), "line 1", "not a qsearch checkpoint") from None
            if head.get("kind") != "qsearch.checkpoint":
                raise QFormatError(str(self.path), "line 1", "not a qsearch checkpoint")
            if head.get("config") != self.hash:
                raise QFormatError(str(self.path), "config",
                                   "written by a different search configuration (use another --checkpoint path)")
            for line in lines[1:]:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut by the kill: everything after it is redone
                self.done[str(rec["id"])] = rec["result"]
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("w") as f:
                f.write(json.dumps({"kind": "qsearch.checkpoint", "config": self.hash,
                                    "created_by": "qsearch"}) + "\n")

    def __contains__(self, key: str) -> bool:
        return str(key) in self.done

    def record(self, key: str, result: dict) -> None:
        self.done[str(key)] = result
        if self.path is None:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"id": str(key), "result": result}, default=_json_default) + "\n")
            f.flush()
            os.fsync(f.fileno())


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def save_state(path: str | os.PathLike, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename (a kill never leaves half a checkpoint)."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, p)


def load_state(path: str | os.PathLike, config: Any) -> Optional[dict]:
    """The saved state at ``path`` if it was written for ``config`` (else an error); None when absent."""
    import torch

    p = Path(path)
    if not p.exists():
        return None
    try:
        state = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:
        raise QFormatError(str(p), "", f"unreadable checkpoint ({type(e).__name__})") from None
    if state.get("config") != config_hash(config):
        raise QFormatError(str(p), "config", "written by a different search configuration (use another --checkpoint path)")
    return state


class ResultCache:
    """JSON results by key in a directory (no directory: in memory only)."""

    def __init__(self, path: Optional[str | os.PathLike] = None):
        self.path = Path(path) if path else None
        self.mem: dict[str, Any] = {}
        if self.path:
            self.path.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(*parts: Any) -> str:
        h = hashlib.sha256()
        for p in parts:
            h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, default=str).encode())
            h.update(b"\0")
        return h.hexdigest()[:32]

    def get(self, key: str) -> Optional[Any]:
        if key in self.mem:
            return self.mem[key]
        if self.path and (self.path / f"{key}.json").exists():
            v = json.loads((self.path / f"{key}.json").read_text())
            self.mem[key] = v
            return v
        return None

    def put(self, key: str, value: Any) -> None:
        self.mem[key] = value
        if self.path:
            tmp = self.path / f".{key}.tmp-{os.getpid()}"
            tmp.write_text(json.dumps(value, default=_json_default))
            os.replace(tmp, self.path / f"{key}.json")

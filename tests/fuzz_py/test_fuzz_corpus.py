"""Every fuzz target of targets.py over the seed corpus and every saved crash, without atheris:
what the fuzzer once found stays fixed (a crash file is the regression test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fastpack_c  # noqa: E402
import targets  # noqa: E402

# targets.py's targets, and the C-vs-Python one of fastpack_c.py (its own seeds as well)
TARGETS = {**targets.TARGETS, **fastpack_c.TARGETS}

SEEDS = sorted((HERE / "seeds").iterdir())
CRASHES = sorted(p for p in (HERE / "crashes").rglob("*") if p.is_file() and not p.name.startswith("."))


def test_seed_corpus_covers_every_kind_of_input() -> None:
    names = {p.name.split("-", 1)[0] for p in SEEDS}
    assert {"ctlog", "notice", "frame", "config", "alert"} <= names, names


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_seed(target: str) -> None:
    for path in SEEDS:
        TARGETS[target](path.read_bytes())


def test_fastpack_c_seeds() -> None:
    for path in sorted((HERE / "seeds_fastpack_c").iterdir()):
        fastpack_c.fastpack_c(path.read_bytes())


@pytest.mark.parametrize("path", CRASHES, ids=[f"{p.parent.name}/{p.name}" for p in CRASHES])
def test_saved_crash_is_fixed(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())


def test_the_targets_can_fail() -> None:
    # A broken promise must surface: a fast split that drops a record is caught by the differential.
    import bridge.deliver.packed as packed

    data = (HERE / "seeds" / "ctlog-three.json").read_bytes()
    real = packed.fast_pack
    try:
        def dropping(name: str, d: bytes, limit: int) -> packed.Packed | None:
            p = real(name, d, limit)
            if p is not None and p.ends:
                p.ends.pop()
                p.keys.pop()
            return p
        packed.fast_pack = dropping  # type: ignore[assignment]
        with pytest.raises(AssertionError):
            targets.packed_vs_stream(data)
    finally:
        packed.fast_pack = real  # type: ignore[assignment]

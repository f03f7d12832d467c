"""The published-payload corpus beside the repository (`../shared/segment-corpus`), read in place."""

from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "segment-corpus" / "valid"
MISSING = f"the Segment payload corpus is not at {CORPUS} (CI has it in ../shared)"


def files(batches: bool) -> list[Path]:
    """The corpus's batch bodies, or its single events; empty where the corpus is absent."""
    if not CORPUS.is_dir():
        return []
    return sorted(path for path in CORPUS.glob("*.json") if path.name.startswith("batch-") == batches)

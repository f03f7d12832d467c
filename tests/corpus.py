"""The published-payload corpus in `tests/data/segment-corpus`: where each example comes from is in its `index.tsv`."""

from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "data" / "segment-corpus" / "valid"


def files(batches: bool) -> list[Path]:
    """The corpus's batch bodies, or its single events."""
    return sorted(path for path in CORPUS.glob("*.json") if path.name.startswith("batch-") == batches)

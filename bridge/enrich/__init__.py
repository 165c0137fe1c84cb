"""Enrichment: per-principal counters, first-seen sets and short sequences, written into each
record under the reserved top-level key "ctb" before delivery (docs/enrichment.md)."""

from bridge.enrich.config import EnrichConfig, load_config
from bridge.enrich.enricher import RESERVED_KEY, Enricher

__all__ = ["RESERVED_KEY", "EnrichConfig", "Enricher", "load_config"]

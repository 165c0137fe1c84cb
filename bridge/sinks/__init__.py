"""Sinks: where alerts go, one file per destination."""

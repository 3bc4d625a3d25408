"""The hostile submissions are data, never test modules: pytest must not import them (one
of them is a conftest.py that exits)."""

collect_ignore_glob = ["submissions/*", "submissions/**", "neighbours/*"]

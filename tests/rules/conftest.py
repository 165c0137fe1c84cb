from falco_fixtures import falco, plugin_path  # noqa: F401  (fixtures)

"""Rule tooling behind `ctbridge rules`: test cases in a real Falco, lint, migrate, coverage."""

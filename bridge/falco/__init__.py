"""falco stage."""

"""falco-cloudtrail-bridge: CloudTrail into Falco, alerts out.

Data flows one way: sources -> normalize -> deliver -> (Falco + ctbridge plugin) -> intake -> route -> sinks.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

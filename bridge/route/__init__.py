"""Between intake and sinks: alert ids, route matching, templates and escaping, the forwarder."""

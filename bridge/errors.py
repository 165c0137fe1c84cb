"""One error tree; foreign exceptions are mapped to these at the boundary."""


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """Bad configuration or command line; names the setting and the problem."""


class InputError(BridgeError):
    """One input item is unusable; it is quarantined and the run goes on."""


class ProtocolError(BridgeError):
    """The peer broke the ingest protocol or sent a malformed frame."""


class DeliveryError(BridgeError):
    """Could not hand data to the next hop."""


class FalcoNotFound(BridgeError):
    """No Falco to run against: neither a socket, a binary nor Docker."""

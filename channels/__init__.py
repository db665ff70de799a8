"""Channel adapters: one module per channel, all behind the contract in ``channels.base``."""

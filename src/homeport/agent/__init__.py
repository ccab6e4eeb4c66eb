"""The agent daemon: detect public addresses, update providers, keep mappings."""

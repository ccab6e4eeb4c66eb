"""The self-hostable dynamic-DNS provider: HTTP update API, DNS, store, admin."""

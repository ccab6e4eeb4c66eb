"""``homeport proxy``: a TLS-terminating proxy config that uses homeport's certificate."""

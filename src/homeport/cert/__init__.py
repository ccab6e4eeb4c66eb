"""``homeport cert``: certificates from an ACME CA through DNS-01, kept renewed.

- :mod:`homeport.cert.store`: the files on disk (one directory per name);
- :mod:`homeport.cert.dns01`: TXT records through the host's provider, seen served;
- :mod:`homeport.cert.order`: one ACME order, over certbot's ``acme`` library;
- :mod:`homeport.cert.renew`: what ``renew`` and the agent daemon run per entry;
- :mod:`homeport.cert.commands`: the click commands.

The renewal decision itself is pure: :mod:`homeport.core.certrenew`.
"""

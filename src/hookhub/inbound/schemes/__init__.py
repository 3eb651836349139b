"""The verification schemes, one module per family; :mod:`hookhub.inbound.verification` is
the public face (registry, ``verify``, ``sign``, ``delivery_id``).

- :mod:`.base`: the error, the options and strict parsing helpers every scheme uses;
- :mod:`.tokens`: the request carries the secret (``bearer``, ``telegram``);
- :mod:`.body_hmac`: HMAC-SHA256 of the body alone (``hmac``, ``github``, ``shopify``, ``viber``);
- :mod:`.timestamped`: HMAC-SHA256 over a timestamp and the body (``stripe``, ``slack``,
  ``standard-webhooks``);
- :mod:`.discord`: Ed25519 (``discord``).
"""

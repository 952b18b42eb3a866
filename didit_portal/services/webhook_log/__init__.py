"""The webhook delivery log behind ``/admin/webhooks``.

* :mod:`.log` — every attempt at ``POST /api/webhooks/didit`` noted off the acknowledgement path (no body, ever);
* :mod:`.listing` — the log's rows with their inbox state, filters and keyset pages; the decrypted payload;
* :mod:`.replay` — a stored event through processing again (one, or every failed one), audited;
* :mod:`.stats` — the last 24 hours: deliveries by outcome, ack latency, processing lag, an hourly chart.
"""

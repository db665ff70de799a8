"""Documents: submit once, versions, withdraw, review; their state, due dates, bodies, attachments and the agency profile."""

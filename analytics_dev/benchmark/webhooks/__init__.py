"""`make bench-webhooks`: the push path measured (see __main__.py)."""

"""Push refresh: the API's job webhooks, received over HTTP and recorded in the Dagster
instance as observations of the `jobs` asset, where `workflow_webhook_sensor` turns them into
loads. `analytics-webhooks` (cli.py) serves app.py; events.py says what a delivery holds,
targets.py which instances a code location serves, store.py how events are written."""

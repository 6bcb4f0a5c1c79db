"""The Flask serving app of the digits model.

`python -m app` is the entrypoint (verify the model, then serve); `app.factory.create_app` builds the app;
`app.wsgi:application` is what the WSGI server loads in each worker. Importing this package does nothing:
`python -m app` decides what it imports when (prometheus_client only after PROMETHEUS_MULTIPROC_DIR is set).
"""

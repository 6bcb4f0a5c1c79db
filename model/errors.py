"""Errors of the model lifecycle. Each message says what is wrong and what to do about it."""


class ModelError(Exception):
    """Base class: anything that stops a model from being published, fetched or served."""


class ModelNotFound(ModelError):
    """The store, the model, the version or one of its files does not exist."""


class IntegrityError(ModelError):
    """A model file does not match its manifest, or a manifest is corrupt."""


class VersionExists(ModelError):
    """A publisher tried to write a version that is already in the store; versions are never overwritten."""


class QualityGateError(ModelError):
    """The model is not good enough to publish, or does not have the input/output spec the app serves."""


class StoreAccessDenied(ModelError):
    """The store refused our identity. Retryable for a few minutes after a role assignment is created."""


class StoreConflict(ModelError):
    """A conditional write lost a race with another writer (internal: callers retry)."""

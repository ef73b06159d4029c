"""The CAIO wire protocol as an AsyncAPI 3.0 document, generated with FastStream."""

from caio.asyncapi._spec import SPEC_FORMATS, asyncapi_document, build_spec_app

__all__ = ["SPEC_FORMATS", "asyncapi_document", "build_spec_app"]

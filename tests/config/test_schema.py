"""The JSON Schema for editors, and rules that hold across the whole model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

import chalicelib.config
from chalicelib.config.introspect import unwrap
from chalicelib.config.loader import config_schema, load_config
from chalicelib.config.model import Config

DESIGN_EXAMPLE = Path(__file__).parent / "fixtures" / "design_example.yaml"


def all_models(root: type[BaseModel] = Config) -> set[type[BaseModel]]:
    found = {root}
    for field in root.model_fields.values():
        tp = unwrap(field.annotation)
        for candidate in (tp, *getattr(tp, "__args__", ())):
            candidate = unwrap(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found |= all_models(candidate)
    return found


def test_schema_is_json_with_a_dialect_and_the_top_level_keys():
    schema = config_schema()
    assert json.loads(json.dumps(schema)) == schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert list(schema["properties"]) == [
        "version",
        "domains",
        "platforms",
        "audiences",
        "links",
        "webhooks",
    ]
    assert schema["properties"]["version"]["const"] == 1
    assert schema["required"] == ["version"]
    assert schema["additionalProperties"] is False


def test_schema_forbids_unknown_keys_everywhere():
    schema = config_schema()
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values())


def test_schema_describes_fields_for_editors():
    link = config_schema()["$defs"]["Link"]["properties"]
    assert "case-insensitively" in link["slug"]["description"]
    assert link["redirect"]["enum"] == [301, 302, 307, 308]


def test_specs_of_the_design_example_satisfy_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    config = load_config(DESIGN_EXAMPLE)
    document = {
        "version": 1,
        "domains": [d.spec() for d in config.domains],
        "platforms": config.platform_specs(),
        "audiences": [a.spec() for a in config.audiences],
        "links": [x.spec() for x in config.links],
    }
    jsonschema.Draft202012Validator(config_schema()).validate(document)


def test_every_model_forbids_unknown_keys():
    models = all_models()
    assert len(models) >= 15
    assert all(m.model_config.get("extra") == "forbid" for m in models)


def test_every_credential_field_takes_only_a_reference():
    # Any field named like a credential must be a SecretRef: a literal fails and is not echoed.
    credential_fields = [
        (m.__name__, name, field.rebuild_annotation())
        for m in all_models()
        for name, field in m.model_fields.items()
        if name.endswith(("_token", "secret"))
    ]
    assert {(m, n) for m, n, _ in credential_fields} >= {
        ("Domain", "conversion_secret"),
        ("MetaPlatform", "access_token"),
        ("GooglePlatform", "ga4_api_secret"),
        ("GooglePlatform", "oauth_token"),
    }
    for model_name, name, annotation in credential_fields:
        adapter = TypeAdapter(annotation)
        # A conversion secret's name also says what it is (the public function reads no other).
        ssm, sm = "ssm:/rebound/x/conversion-secret", "secretsmanager:rebound/x-conversion-secret"
        assert adapter.validate_python(ssm) == ssm
        assert adapter.validate_python(sm) == sm
        with pytest.raises(ValidationError) as caught:
            adapter.validate_python("s3cr3t-literal")
        error = caught.value.errors()[0]
        assert "reference" in error["msg"], (model_name, name)
        assert "s3cr3t-literal" not in error["msg"]


def test_model_modules_do_not_import_boto3():
    # The config model is used by the CLI and tests; it must stay free of AWS clients.
    modules = sorted(Path(chalicelib.config.__file__).parent.glob("*.py"))
    assert {m.name for m in modules} >= {"model.py", "references.py", "introspect.py"}
    for module in modules:
        assert "boto3" not in module.read_text(), module.name

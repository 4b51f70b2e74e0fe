"""The operator's per-Order log lines go through the shared JSON handler intact."""

from __future__ import annotations

import io
import json
import logging

import kopf
from kopf._cogs.structs.bodies import Body
from kopf._core.actions.loggers import ObjectLogger

from services.runtime import observability
from services.runtime.settings import TelemetrySettings


def test_an_object_log_line_is_one_json_object_naming_the_order() -> None:
    """kopf attaches its whole settings to each record; they must not break the line."""
    stream = io.StringIO()
    handler = observability.json_handler("saga-operator", TelemetrySettings(), stream)
    kopf_objects = logging.getLogger("kopf.objects")
    kopf_objects.addHandler(handler)
    kopf_objects.setLevel(logging.INFO)
    order = Body(
        {
            "apiVersion": "kubesaga.io/v1alpha1",
            "kind": "Order",
            "metadata": {"name": "o-1", "namespace": "shop", "uid": "u-1"},
        }
    )
    try:
        ObjectLogger(body=order, settings=kopf.OperatorSettings()).info("reserve-stock succeeded")
    finally:
        kopf_objects.removeHandler(handler)

    (line,) = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert line["message"] == "reserve-stock succeeded"
    assert line["object"] == {
        "apiVersion": "kubesaga.io/v1alpha1",
        "kind": "Order",
        "name": "o-1",
        "namespace": "shop",
        "uid": "u-1",
    }
    assert line["service"] == "saga-operator"
    assert not {"settings", "k8s_skip", "k8s_ref"} & line.keys()

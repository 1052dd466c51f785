"""The part of kustomize that manifests/kustomization.yaml uses, in Python, so the tests render
the manifests exactly as `kubectl apply -k` would without kubectl (test_manifests.py compares
with `kubectl kustomize` where kubectl exists).

Supported: `resources` (files), `replicas`, `replacements` (fieldPath with `[key=value]` list
selectors; whole-value copies, an int copied into a string field becomes its decimal text, as
kustomize does), `images` (`newName`, `newTag`). Anything else in the kustomization is an error,
so a new kustomize feature in the manifests cannot be silently ignored here.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "replicas", "replacements", "images"}
_SELECTOR = re.compile(r"^\[(?P<key>[^=\]]+)=(?P<value>[^\]]*)\]$")


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not implement, or is wrong."""


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources of `directory`/kustomization.yaml after its transformations, in the order
    of `resources` (kustomize sorts by kind on output; order does not matter to the tests)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"kustomization keys not implemented by kustomize_lite: {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if not path.is_file():
            raise KustomizeError(f"resource {resource} is not a file in {directory}")
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for entry in kustomization.get("replicas", []):
        _apply_replicas(objects, entry)
    for entry in kustomization.get("images", []):
        _apply_image(objects, entry)
    for entry in kustomization.get("replacements", []):
        _apply_replacement(objects, entry)
    return objects


def _matches(obj: dict[str, Any], select: dict[str, Any]) -> bool:
    for key in ("kind", "name", "namespace"):
        if key not in select:
            continue
        actual = obj.get("kind") if key == "kind" else obj.get("metadata", {}).get(key)
        if actual != select[key]:
            return False
    return True


def _apply_replicas(objects: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    hits = [o for o in objects if o.get("metadata", {}).get("name") == entry["name"]
            and o.get("kind") in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")]
    if not hits:
        raise KustomizeError(f"replicas: no workload named {entry['name']}")
    for obj in hits:
        obj["spec"]["replicas"] = int(entry["count"])


def _apply_image(objects: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    for obj in objects:
        pod = _pod_spec(obj)
        if pod is None:
            continue
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            name, tag = _split_image(container["image"])
            if name != entry["name"]:
                continue
            name = entry.get("newName", name)
            tag = str(entry["newTag"]) if "newTag" in entry else tag
            container["image"] = f"{name}:{tag}" if tag else name


def _split_image(image: str) -> tuple[str, str | None]:
    """'registry:5000/a/b:tag' -> ('registry:5000/a/b', 'tag')."""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, None


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") == "Pod":
        return obj["spec"]
    template = obj.get("spec", {}).get("template")
    return template.get("spec") if isinstance(template, dict) else None


def _apply_replacement(objects: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    source = entry["source"]
    sources = [o for o in objects if _matches(o, source)]
    if len(sources) != 1:
        raise KustomizeError(f"replacement source {source} matches {len(sources)} resources")
    value = get_field(sources[0], source.get("fieldPath", "metadata.name"))
    for target in entry["targets"]:
        hits = [o for o in objects if _matches(o, target["select"])]
        if not hits:
            raise KustomizeError(f"replacement target {target['select']} matches nothing")
        for obj in hits:
            for path in target["fieldPaths"]:
                set_field(obj, path, value)


def _steps(path: str) -> list[str]:
    # "a.b.[name=x].c": split on dots outside brackets.
    return re.findall(r"\[[^\]]*\]|[^.\[\]]+", path)


def _step_into(node: Any, step: str, path: str) -> Any:
    selector = _SELECTOR.match(step)
    if selector:
        if not isinstance(node, list):
            raise KustomizeError(f"{path}: {step} applied to a non-list")
        hits = [item for item in node if isinstance(item, dict)
                and str(item.get(selector["key"])) == selector["value"]]
        if len(hits) != 1:
            raise KustomizeError(f"{path}: {step} matches {len(hits)} items")
        return hits[0]
    if not isinstance(node, dict) or step not in node:
        raise KustomizeError(f"{path}: no field {step!r}")
    return node[step]


def get_field(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for step in _steps(path):
        node = _step_into(node, step, path)
    return copy.deepcopy(node)


def set_field(obj: dict[str, Any], path: str, value: Any) -> None:
    """Replace an existing field (kustomize's default: no `create`)."""
    steps = _steps(path)
    node: Any = obj
    for step in steps[:-1]:
        node = _step_into(node, step, path)
    last = steps[-1]
    if not isinstance(node, dict) or last not in node:
        raise KustomizeError(f"{path}: no field {last!r} to replace")
    old = node[last]
    # kustomize keeps the target's scalar kind: an int into a string field becomes its text.
    if isinstance(old, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    node[last] = value

"""The part of kustomize that manifests/ (base and overlays) uses, in Python, so the tests render
the manifests exactly as `kubectl apply -k` would without kubectl (test_manifests.py compares
with `kubectl kustomize` where kubectl exists).

Supported: `resources` (files, and directories holding a kustomization: a base, rendered
first), `replicas`, `replacements` (fieldPath with `[key=value]` list selectors; whole-value
copies, an int copied into a string field becomes its decimal text, as kustomize does), `images`
(`newName`, `newTag`), `patches` given inline as JSON 6902 operations (`add`, `remove`,
`replace`, `test`) with a `target` (kind, name). Anything else in the kustomization is an
error, so a new kustomize feature in the manifests cannot be silently ignored here.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "replicas", "replacements", "images", "patches"}
PATCH_OPS = {"add", "remove", "replace", "test"}
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
        path = (directory / resource).resolve()
        if path.is_dir():
            if path in directory.resolve().parents:
                # kustomize: "cycle detected: candidate root ... contains visited root"
                raise KustomizeError(f"resource {resource}: {path} contains {directory}")
            objects += render(path)
        elif path.is_file():
            if not path.is_relative_to(directory.resolve()):
                # kustomize's load restriction (LoadRestrictionsRootOnly)
                raise KustomizeError(f"resource {resource} is a file outside {directory}")
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        else:
            raise KustomizeError(f"resource {resource} is neither a file nor a directory in {directory}")
    # kustomize's order of the built-in transformers: patches, replicas, images, replacements.
    for entry in kustomization.get("patches", []):
        _apply_patch(objects, entry)
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


def _apply_patch(objects: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    """An inline JSON 6902 patch (RFC 6902 add/remove/replace/test; JSON pointers, `-` appends)."""
    if set(entry) != {"target", "patch"}:
        raise KustomizeError(f"patches: only inline `patch` with a `target` is implemented: {sorted(entry)}")
    hits = [o for o in objects if _matches(o, entry["target"])]
    if not hits:
        raise KustomizeError(f"patch target {entry['target']} matches nothing")
    operations = yaml.safe_load(entry["patch"])
    if not isinstance(operations, list):
        raise KustomizeError("patches: only JSON 6902 operation lists are implemented")
    for obj in hits:
        for op in operations:
            _json_patch_op(obj, op)


def _json_patch_op(obj: dict[str, Any], op: dict[str, Any]) -> None:
    if op.get("op") not in PATCH_OPS:
        raise KustomizeError(f"JSON patch op {op.get('op')!r} is not implemented")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
    if not tokens:
        raise KustomizeError(f"JSON patch on the whole document: {op}")
    parent: Any = obj
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    if op["op"] == "test":
        actual = parent[int(last)] if isinstance(parent, list) else parent.get(last)
        if actual != op["value"]:
            raise KustomizeError(f"JSON patch test {op['path']}: {actual!r} is not {op['value']!r}")
        return
    if isinstance(parent, list):
        if op["op"] == "add" and last == "-":
            parent.append(copy.deepcopy(op["value"]))
            return
        index = int(last)
        limit = len(parent) + (op["op"] == "add")
        if not 0 <= index < limit:
            raise KustomizeError(f"JSON patch {op['path']}: index {index} out of range")
        if op["op"] == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        elif op["op"] == "remove":
            del parent[index]
        else:
            parent[index] = copy.deepcopy(op["value"])
        return
    if op["op"] != "add" and last not in parent:
        raise KustomizeError(f"JSON patch {op['path']}: no field {last!r}")
    if op["op"] == "remove":
        del parent[last]
    else:
        parent[last] = copy.deepcopy(op["value"])


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

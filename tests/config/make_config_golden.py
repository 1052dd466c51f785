"""Write FAB and config golden cases with the pinned stock flwr, for test_fab_config.py.

Usage: make_config_golden.py OUT_DIR

FABs are built by flwr's own `build_fab_from_disk` from app directories created under
OUT_DIR/apps; FABs that `flwr build` refuses to make (invalid configs, broken archives) are
zipped by hand as `flwr build` zips. Every expected result comes from the functions the
pinned SuperLink runs in StartRun (`get_fab_config`, `flatten_dict`, `fuse_dicts`,
`get_metadata_from_config`, `normalize_and_validate_fab_format`) and from
`parse_config_args`, the parser of `flwr run -c` and `flower-supernode --node-config`.

OUT_DIR/cases.json lists the cases. Each has `name`, `kind` (info, config, run-config,
config-args, node-config) and `args` for fab_tool (file names relative to OUT_DIR), and
`expect`: {"ok": true, ...values} or {"ok": false, "stage": ..., "error": exception type,
"message": str(exception)}. A case with `divergence` documents an input the C++ side
rejects on purpose although Python accepts it; the reason is the value.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
import warnings
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import click
import flwr
import tomli
from flwr.cli.build import build_fab_from_disk, write_to_zip
from flwr.common.config import (
    flatten_dict,
    fuse_dicts,
    get_fab_config,
    get_metadata_from_config,
    parse_config_args,
)
from flwr.common.constant import FAB_MAX_SIZE
from flwr.supercore.fab_format_version import normalize_and_validate_fab_format

INT64_MAX = 2**63 - 1

CASES: list[dict[str, Any]] = []


def typed(config: dict[str, Any]) -> list[list[Any]]:
    """A flat config as [key, type, value] triples, floats as exact strings."""
    out = []
    for key, value in config.items():
        if isinstance(value, bool):
            out.append([key, "bool", value])
        elif isinstance(value, int):
            out.append([key, "int" if abs(value) <= INT64_MAX else "bigint", value])
        elif isinstance(value, float):
            out.append([key, "float", "nan" if math.isnan(value) else repr(value)])
        elif isinstance(value, str):
            out.append([key, "str", value])
        else:
            out.append([key, type(value).__name__, repr(value)])
    return out


def error(stage: str, err: BaseException) -> dict[str, Any]:
    message = err.format_message() if isinstance(err, click.ClickException) else str(err)
    return {"ok": False, "stage": stage, "error": type(err).__name__, "message": message}


def server_view(fab: bytes) -> dict[str, Any]:
    """What the pinned SuperLink's start_run reads from a FAB, or how it fails."""
    if len(fab) > FAB_MAX_SIZE:
        return {"ok": False, "stage": "size", "error": "", "message": ""}
    try:
        config = get_fab_config(fab)
    except ValueError as err:  # INVALID_RUN_CONFIG
        return error("config", err)
    except Exception as err:  # pylint: disable=broad-except  # INTERNAL
        return error("archive", err)
    return config_view(config)


def config_view(config: dict[str, Any]) -> dict[str, Any]:
    """The values the SuperLink derives from a validated pyproject.toml."""
    app = config["tool"]["flwr"]["app"]
    fab_id, version = get_metadata_from_config(config)
    metadata = normalize_and_validate_fab_format(config)
    components = [[k, v] for k, v in app["components"].items() if isinstance(v, str)]
    return {
        "ok": True,
        "publisher": app["publisher"],
        "name": config["project"]["name"],
        "version": version,
        "fab_id": fab_id,
        "app_id": f"@{fab_id}",
        "is_agentapp": "agentapp" in app["components"],
        "components": components,
        "config": typed(flatten_dict(app.get("config"))),
        "fab_format_version": metadata.fab_format_version,
        "flwr_version_min": metadata.flwr_version_min,
        "flwr_version_target": metadata.flwr_version_target,
    }


def pyproject_config_view(text: bytes) -> dict[str, Any]:
    """get_fab_config's checks on the bytes of a pyproject.toml, without the zip."""
    return server_view(zip_files({"pyproject.toml": text}))


def zip_files(files: dict[str, bytes]) -> bytes:
    """Zip files as `flwr build` does (deflate, fixed date)."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            write_to_zip(archive, name, content)
    return buffer.getvalue()


def pyproject(
    *,
    name: str = "demo-app",
    version: str = "1.0.0",
    publisher: str = "flwrlabs",
    dependencies: str = '["flwr[simulation]>=1.20.0", "numpy>=2.0.2"]',
    app_extra: str = "",
    components: str = 'serverapp = "demo_app.server_app:app"\n'
    'clientapp = "demo_app.client_app:app"',
    config: str = "",
    project_extra: str = "",
) -> str:
    return textwrap.dedent(
        """\
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{name}"
        version = "{version}"
        description = "A demo app"
        license = "Apache-2.0"
        dependencies = {dependencies}
        {project_extra}

        [tool.flwr.app]
        publisher = "{publisher}"
        {app_extra}

        [tool.flwr.app.components]
        {components}

        [tool.flwr.app.config]
        {config}

        [tool.flwr.federations]
        default = "local-simulation"

        [tool.flwr.federations.local-simulation]
        options.num-supernodes = 10
        """
    ).format(
        name=name,
        version=version,
        publisher=publisher,
        dependencies=dependencies,
        app_extra=app_extra,
        components=components,
        config=config,
        project_extra=project_extra,
    )


def add(name: str, kind: str, args: list[str], expect: dict[str, Any], **extra: Any) -> None:
    CASES.append({"name": name, "kind": kind, "args": args, "expect": expect, **extra})


def build_app(out: Path, name: str, toml_text: str, extra_files: dict[str, str]) -> str:
    """Create an app directory and build its FAB with flwr's own build; returns the file."""
    app = out / "apps" / name
    (app / "demo_app").mkdir(parents=True)
    (app / "pyproject.toml").write_text(toml_text, encoding="utf-8")
    (app / "demo_app" / "__init__.py").write_text("")
    (app / "demo_app" / "server_app.py").write_text("app = None\n")
    (app / "demo_app" / "client_app.py").write_text("app = None\n")
    (app / "README.md").write_text("# Demo\n")
    for rel, content in extra_files.items():
        (app / rel).write_text(content, encoding="utf-8")
    fab = build_fab_from_disk(app)
    file = f"{name}.fab"
    (out / file).write_bytes(fab)
    return file


def fab_cases(out: Path) -> dict[str, str]:
    """FABs built by flwr's build: every config value type, nesting, unicode, formats."""
    built = {
        "all_types": build_app(
            out,
            "all_types",
            pyproject(
                config=textwrap.dedent(
                    """\
                    num-server-rounds = 3
                    fraction-train = 0.5
                    local-epochs = 1
                    lr = 1e-3
                    negative = -42
                    big = 9223372036854775807
                    tiny = 5e-324
                    huge = 1.7976931348623157e308
                    inf = inf
                    minus-inf = -inf
                    flag = true
                    other-flag = false
                    name = "résumé 🌸 \\"quoted\\" \\\\ tab\\t"
                    empty = ""
                    "dotted.key" = 7
                    hex = 0xff
                    under = 1_000_000
                    zero-float = -0.0
                    inline = { a = 1, b = { c = "deep" } }
                    [tool.flwr.app.config.model]
                    layers = 4
                    dropout = 0.25
                    [tool.flwr.app.config.model.optimizer]
                    kind = "adam"
                    momentum = 0.9
                    [tool.flwr.app.config."ключ"]
                    "значение" = "✓"
                    """
                )
            ),
            {},
        ),
        "no_config": build_app(
            out,
            "no_config",
            pyproject(publisher="pub-ü", name="no-config").replace("[tool.flwr.app.config]", ""),
            {},
        ),
        "agentapp": build_app(
            out,
            "agentapp",
            pyproject(
                components='agentapp = "demo_app.server_app:app"\nextra = "x:y"',
                config='agent.input = "hello"\nagent.max-steps = 10',
            ),
            {},
        ),
        "format_v1": build_app(
            out,
            "format_v1",
            pyproject(
                dependencies='["flwr>=1.30.0,<2.0", "torch==2.5.1"]',
                project_extra="",
                app_extra='fab-format-version = 1\nflwr-version-target = "1.36.0"',
                config="x = 1",
            ).replace('license = "Apache-2.0"', 'license = { file = "LICENSE" }'),
            {"LICENSE": "Apache-2.0\n"},
        ),
        "v0_lower_bounds": build_app(
            out,
            "v0_lower_bounds",
            pyproject(
                dependencies='["flwr[simulation] >= 1.9, >=1.20.0.post1, !=1.21, <3"]',
                config="only = 'one'",
            ),
            {},
        ),
    }
    for name, file in built.items():
        add(f"fab_{name}", "info", [file], server_view((out / file).read_bytes()))
    return built


def raw_fab_cases(out: Path) -> None:
    """Archives flwr's build would not make: raw pyproject text, bad archives, limits."""

    def raw(name: str, toml: bytes | str, stage_expect: str | None = None, **extra: Any) -> None:
        data = toml.encode("utf-8") if isinstance(toml, str) else toml
        file = f"raw_{name}.fab"
        fab = zip_files({"pyproject.toml": data})
        (out / file).write_bytes(fab)
        (out / f"raw_{name}.toml").write_bytes(data)
        expect = server_view(fab)
        if stage_expect is not None:
            assert expect.get("stage") == stage_expect, (name, expect)
        add(f"raw_{name}", "info", [file], expect, **extra)
        add(f"pyproject_{name}", "config", [f"raw_{name}.toml"], expect, **extra)

    config_order = """\
        zeta = 1
        alpha.x = 2
        mid = 3
        alpha.y = 4
        [tool.flwr.app.config.beta.inner]
        q = "q"
        [tool.flwr.app.config.beta]
        b1 = true
        [tool.flwr.app.config.alpha.z]
        w = 1.5
        """
    raw("document_order", pyproject(config=textwrap.dedent(config_order)))
    raw("flat_key_collision", pyproject(config='"a.b" = 1\nz = 0\na = { b = 2, c = 3 }'))
    raw("crlf", pyproject(config="x = 1\ny = 'two'").replace("\n", "\r\n"))
    raw("missing_project", "[tool.flwr.app]\npublisher = 'p'\n[tool.flwr.app.components]\n"
        "serverapp = 'a:b'\nclientapp = 'a:c'\n", "config")
    raw("missing_name_version_publisher",
        "[project]\ndescription = 'x'\n[tool.flwr.app]\nfab-include = []\n"
        "fab-exclude = 'x'\n", "config")
    raw("missing_app", "[project]\nname = 'a'\nversion = '1'\n[tool.flwr]\nx = 1\n", "config")
    raw("missing_clientapp", pyproject(components='serverapp = "a:b"'), "config")
    raw("missing_components", pyproject().replace("[tool.flwr.app.components]", "[x]"),
        "config")
    raw("include_blank_pattern", pyproject(app_extra='fab-include = ["**/*.py", " "]'),
        "config")
    raw("component_missing_attribute", pyproject(components='serverapp = "app"\n'
                                                 'clientapp = "it\'s:app"'), "config")
    raw("component_missing_module", pyproject(components='serverapp = "a:b"\n'
                                              'clientapp = ":app"'), "config")
    raw("config_array", pyproject(config="ok = 1\n[tool.flwr.app.config.sub]\nlist = [1, 2]"),
        "config")
    raw("config_date", pyproject(config="when = 2024-01-01"), "config")
    raw("config_datetime_inline", pyproject(config="t = { at = 1979-05-27T07:32:00Z }"),
        "config")
    raw("bad_toml", pyproject(config="x = = 1"), "config")
    raw("duplicate_key", pyproject(config="x = 1\nx = 2"), "config")
    raw("bom", b"\xef\xbb\xbf" + pyproject().encode(), "config")
    raw("not_utf8", pyproject(config="s = 'caf\xe9'").encode("latin-1"), "config")
    raw("truncated_utf8", pyproject().encode() + b"# \xe2\x82", "config")
    raw("format_v2", pyproject(app_extra="fab-format-version = 2"), "config")
    raw("format_negative", pyproject(app_extra="fab-format-version = -1"), "config")
    raw("format_string", pyproject(app_extra="fab-format-version = '1'"), "config")
    raw("format_bool", pyproject(app_extra="fab-format-version = true"), "config")
    raw("v1_missing_target", pyproject(app_extra="fab-format-version = 1"), "config")
    raw("v1_license_string", pyproject(
        app_extra='fab-format-version = 1\nflwr-version-target = "1.36.0"'), "config")
    v1 = 'fab-format-version = 1\nflwr-version-target = "{target}"'
    licensed = 'license = { file = "LICENSE" }'
    raw("v1_license_text", pyproject(app_extra=v1.format(target="1.36")).replace(
        'license = "Apache-2.0"', 'license = { text = "MIT" }'), "config")
    raw("v1_license_other_file", pyproject(app_extra=v1.format(target="1.36")).replace(
        'license = "Apache-2.0"', 'license = { file = "COPYING" }'), "config")
    raw("v1_bad_target", pyproject(app_extra=v1.format(target="one")).replace(
        'license = "Apache-2.0"', licensed), "config")
    raw("v1_no_flwr", pyproject(app_extra=v1.format(target="1.36"), dependencies='["numpy"]')
        .replace('license = "Apache-2.0"', licensed), "config")
    raw("v1_no_lower_bound", pyproject(app_extra=v1.format(target="1.36"),
                                       dependencies='["flwr<2,~=1.30"]')
        .replace('license = "Apache-2.0"', licensed), "config")
    raw("v1_target_below_bound", pyproject(app_extra=v1.format(target="1.29.9"),
                                           dependencies='["flwr>=1.30"]')
        .replace('license = "Apache-2.0"', licensed), "config")
    raw("v1_target_excluded", pyproject(app_extra=v1.format(target="1.31.0"),
                                        dependencies='["flwr>=1.30,!=1.31.*"]')
        .replace('license = "Apache-2.0"', licensed), "config")
    raw("v1_target_prerelease", pyproject(app_extra=v1.format(target="1.37.0rc1"),
                                          dependencies='["flwr>=1.30"]')
        .replace('license = "Apache-2.0"', licensed), "config")
    raw("v1_prerelease_allowed", pyproject(app_extra=v1.format(target="1.37.0rc1"),
                                           dependencies='["flwr>=1.30,<=1.37rc2"]')
        .replace('license = "Apache-2.0"', licensed))
    raw("v1_compatible_release", pyproject(app_extra=v1.format(target="v1.36.post2"),
                                           dependencies='["flwr (>=1.36.0, ~=1.36.0)"]')
        .replace('license = "Apache-2.0"', licensed))
    raw("v1_arbitrary_invalid", pyproject(app_extra=v1.format(target="1.36"),
                                          dependencies='["flwr>=1.30,===foo"]')
        .replace('license = "Apache-2.0"', licensed), "config")
    # PEP 440 comparisons behind `flwr-version-target in SpecifierSet(...)`.
    targets = [
        (">=1.30,<1.36.0", "1.36.0"),
        (">=1.0,==1.36.*", "1.36.5"),
        (">=1.0,==1.36.*", "1.37"),
        (">=1.0,==1.36.*", "1.36a1"),
        (">=1.0,!=1.36.0", "1.36"),
        (">=1.0,!=1.5.*", "1.5.0.post1"),
        (">=1.0,<1.36", "1.36.0rc1"),
        (">=1.0,<1.36", "1.35.9"),
        (">=1.0,>1.36", "1.36.post1"),
        (">=1.0,>1.36", "1.36.1"),
        (">=1.0,>1.36", "1.36.1+local"),
        (">=1.0,>1.36", "1.36+local"),
        (">=1.0,~=1.36.0", "1.36.9"),
        (">=1.0,~=1.36.0", "1.37.0"),
        (">=1.0,~=1.36", "1.99"),
        (">=1.0,~=1.36.0rc1", "1.36.0rc2"),
        (">=1!1.0", "1.36"),
        (">=1.0,===1.36.0", "1.36.0"),
        (">=1.0,===1.36.0", "1.36"),
        (">=1.0,==1.36.0+abc", "1.36.0+abc"),
        (">=1.0,==1.36.0", "1.36.0+abc"),
        (">=1.0,==1.36.0+abc", "1.36.0"),
        (">=1.0.dev0", "1.0.dev0"),
        (">=1.0a1,<2", "1.0a2"),
        (">=1.0a1,<2", "1.0.dev5"),
        (">=01.02.0", "1.2"),
        (">=1.0,<=1.36.0.0.0", "1.36"),
        (">=1.0,==1.*", "1.99999999999999999999"),
        (">=1.0", "1.0-1"),
        (">=1.0", "V1.0.POST2.DEV3"),
        (">=1.0", "1.0c1"),
        (">= 1.0 , < 2", "1.5"),
        (">=1.0,>=1.5,>=1.2", "1.4"),
        (">=1.0,<1.36.0.post1", "1.36.0"),
        (">=1.0,<=1.36.0-1", "1.36.0.post1"),
        (">=1.0,>1.0.dev1", "1.0.dev2"),
        (">=1.0,==1.36.0.*", "1.36"),
        (">=1.0,!=1.36.0+x", "1.36.0+x"),
    ]
    for i, (spec, target) in enumerate(targets):
        raw(f"v1_target_{i:02d}", pyproject(app_extra=v1.format(target=target),
                                             dependencies=f'["flwr[sim]{spec}"]')
            .replace('license = "Apache-2.0"', licensed))
    raw("deps_not_list", pyproject(dependencies='"flwr>=1.0"'), "config")
    raw("deps_not_strings", pyproject(dependencies='["numpy", 3]'), "config")
    raw("deps_multiple_flwr", pyproject(dependencies='["flwr>=1.0", "numpy", "flwr<2"]'),
        "config")
    raw("deps_invalid_version_op", pyproject(dependencies='["numpy", "flwr >= 1.0.*"]'),
        "config")
    raw("deps_invalid_local", pyproject(dependencies='["flwr>=1.0+local"]'), "config")
    raw("deps_unclosed_bracket", pyproject(dependencies='["flwr[simulation>=1.0"]'), "config")
    raw("deps_bad_marker", pyproject(dependencies='["flwr>=1.0; python_version >> \'3\'"]'),
        "config")
    raw("deps_missing_name", pyproject(dependencies='[">=1.0"]'), "config")
    raw("deps_extras_comma", pyproject(dependencies='["flwr[a b]"]'), "config")
    raw("deps_url_marker", pyproject(dependencies='["flwr @ https://x/y.whl ; os_name==\'nt\'"]'))
    raw("deps_url_no_ws", pyproject(dependencies='["pkg @ https://x/y.whl;os_name==\'nt\'"]'))
    raw("deps_markers_ok", pyproject(dependencies=(
        '["flwr>=1.2; python_version >= \'3.9\' and (os_name == \\"posix\\" or '
        'extra not in \'x\')", "other"]')))
    raw("deps_arbitrary_comma", pyproject(dependencies='["flwr===1.0,bad"]'), "config")
    raw("deps_trailing_newline", pyproject(dependencies='["flwr>=1.5\\n"]'))
    raw("deps_unicode_caret", pyproject(dependencies='["flwr>=1.0 é"]'), "config")

    # Python accepts these; the C++ side rejects them on purpose.
    raw("publisher_not_string", pyproject().replace('publisher = "flwrlabs"', "publisher = 5"),
        divergence="a non-string publisher makes fab_id '5/demo-app'")
    raw("config_int_beyond_int64", pyproject(config="n = 99999999999999999999"),
        divergence="flwr cannot send ints beyond int64 (sint64 Scalar); toml++ rejects them")
    raw("toml11_inline_newline", pyproject(config="t = { a = 1,\n  b = 2, }"),
        divergence="TOML 1.1 syntax that tomli 2.5 reads and toml++ (TOML 1.0) does not")
    raw("config_float_overflow", pyproject(config="f = 1e400"),
        divergence="tomli reads 1e400 as inf; toml++ rejects it")

    # Archive-level failures: INTERNAL on the pinned SuperLink.
    def archive(name: str, fab: bytes) -> None:
        file = f"archive_{name}.fab"
        (out / file).write_bytes(fab)
        expect = server_view(fab)
        assert expect["ok"] is False and expect["stage"] in ("archive", "size"), (name, expect)
        add(f"archive_{name}", "info", [file], expect)

    good = (out / "all_types.fab").read_bytes()
    archive("not_zip", b"this is not a zip file at all")
    archive("empty", b"")
    archive("truncated", good[: len(good) // 2])
    archive("no_pyproject", zip_files({"README.md": b"# no config\n"}))
    archive("nested_pyproject", zip_files({"app/pyproject.toml": pyproject().encode()}))
    archive("oversize", zip_files({"pyproject.toml": pyproject().encode()})
            + b"\0" * (FAB_MAX_SIZE + 1))
    corrupt = bytearray(zip_files({"pyproject.toml": pyproject(config="x = 1").encode()}))
    start = corrupt.index(b"pyproject.toml") + len("pyproject.toml")
    corrupt[start + 10] ^= 0xFF  # flip a byte of the deflated data
    archive("corrupt_data", bytes(corrupt))

    # Duplicate names: Python's zipfile reads the last entry of a name.
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive_file, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        archive_file.writestr("pyproject.toml", pyproject(config="which = 'first'"))
        archive_file.writestr("pyproject.toml", pyproject(config="which = 'last'"))
    (out / "archive_duplicate.fab").write_bytes(buffer.getvalue())
    add("archive_duplicate", "info", ["archive_duplicate.fab"], server_view(buffer.getvalue()))


def run_config_cases(out: Path, built: dict[str, str]) -> None:
    """`flwr run -c ...` overrides fused with a FAB's defaults, as StartRun validates them."""
    runs = {
        "none": [],
        "types_replace": ["num-server-rounds='three' lr=1 flag=0.5", "model.layers=8"],
        "nested_override": ["model.optimizer.kind=\"sgd\"", "inline.b.c=false"],
        "quoted_dotted_key": ['"dotted.key"=8'],
        "unknown_key": ["num-server-rounds=5 no-such-key=1"],
        "unknown_nested": ["model.optimizer.beta=0.9"],
    }
    for name, args in runs.items():
        file = built["all_types"]
        try:
            config = get_fab_config(out / file)
            defaults = flatten_dict(config["tool"]["flwr"]["app"].get("config"))
            overrides = parse_config_args(args)
            expect = {"ok": True, "config": typed(fuse_dicts(defaults, overrides))}
        except ValueError as err:
            expect = error("fuse", err)
        add(f"run_config_{name}", "run-config", [file, *args], expect)


def config_args_cases(out: Path) -> None:
    """parse_config_args as `flwr run -c` and `--node-config` use it."""
    (out / "overrides.toml").write_text(
        'lr = 0.5\n[model]\nlayers = 2\nname = "ü"\n', encoding="utf-8")
    (out / "bad.toml").write_text("x = [1, 2]\n", encoding="utf-8")
    lists = {
        "typical": ["lr=0.1 epochs=5 name='abc' flag=true"],
        "spaces_in_quotes": ['key3="string with spaces" k=1', "single='a b  c'"],
        "update_replaces_nested": ["a.b=1", "a.c=2"],
        "later_wins_in_place": ["x=1 y=2", "x=3"],
        "value_after_space_ignored": ["a= 1"],
        "leading_word_ignored": ["foo bar=1"],
        "lazy_key": ["a=b=c"],
        "equals_then_value": ["k==1"],
        "inline_table": ["x={a=1}"],
        "quoted_key": ['"quoted.key"=1 \'lit\'=2'],
        "numbers": ["i=-17 j=+7 h=0x1F o=0o17 b=0b101 u=1_000 f=-1.5e3 g=1.0 p=inf m=-inf n=nan"],
        "unicode": ['s="unicodé ✓ 🌸" t=\'日本\''],
        "escape": ['s="tab\\there" u="\\u00e9"'],
        "empty_list": [],
        "empty_string": [""],
        "only_empty_strings": ["", ""],
        "no_pairs": ["just words"],
        "array": ["k=[1,2]"],
        "date": ["d=2024-01-01"],
        "bare_string": ["k=abc"],
        "unclosed_quote": ['k="abc'],
        "duplicate_in_one": ["a=1 a=2"],
        "bad_second_arg": ["ok=1", "bad=x y"],
        "toml_beside_pairs": ["x=1", "conf.toml"],
        "bad_then_toml": ["bad=", "x=abc", "conf.toml"],
        "toml_file": [str(out / "overrides.toml")],
        "toml_file_array": [str(out / "bad.toml")],
        "toml_file_missing": [str(out / "missing.toml")],
        "big_int": ["k=99999999999999999999"],
        "toml11_escape": ['k="\\e"'],
    }
    divergences = {
        "big_int": "parse_config_args keeps big ints, but flwr run cannot send them",
        "toml11_escape": "TOML 1.1 escape that tomli 2.5 reads and toml++ (TOML 1.0) does not",
    }
    for name, args in lists.items():
        try:
            expect = {"ok": True, "config": typed(parse_config_args(args))}
        except (ValueError, click.ClickException) as err:
            expect = error("args", err)
        except Exception as err:  # pylint: disable=broad-except
            expect = error("other", err)
        extra = {"divergence": divergences[name]} if name in divergences else {}
        add(f"args_{name}", "config-args", args, expect, **extra)

    for name, arg in {
        "typical": "partition-id=0 num-partitions=2",
        "strings": 'key1="value1" dataset=\'mnist\' ratio=0.25',
        "empty": "",
        "toml_file": str(out / "overrides.toml"),
    }.items():
        try:
            expect = {"ok": True, "config": typed(parse_config_args([arg] if arg else arg))}
        except (ValueError, click.ClickException) as err:
            expect = error("args", err)
        add(f"node_{name}", "node-config", [arg], expect)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    built = fab_cases(out)
    raw_fab_cases(out)
    run_config_cases(out, built)
    config_args_cases(out)
    manifest = {"flwr_version": flwr.__version__, "tomli_version": tomli.__version__,
                "cases": CASES}
    (out / "cases.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

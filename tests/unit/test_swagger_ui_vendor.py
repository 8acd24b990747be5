"""dev_runtime/swagger_ui.py: the Swagger UI files of /docs come from the pinned npm package, or nothing does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dev_runtime import swagger_ui


def _project(tmp_path: Path, pinned="5.35.0", installed="5.35.0") -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "package.json").write_text(json.dumps({"devDependencies": {"swagger-ui-dist": pinned}}))
    if installed:
        package = root / "node_modules" / "swagger-ui-dist"
        package.mkdir(parents=True)
        (package / "package.json").write_text(json.dumps({"version": installed}))
        for name in swagger_ui.FILES:
            (package / name).write_text(f"{name} of {installed}")
        (package / "swagger-ui-bundle.js.map").write_text("a large source map")
    return root


def test_copies_the_files_then_is_up_to_date(tmp_path):
    root = _project(tmp_path)
    assert swagger_ui.ensure(root).endswith(f"({len(swagger_ui.FILES)} file(s) copied)")
    dest = root / swagger_ui.VENDOR
    assert sorted(p.name for p in dest.iterdir()) == sorted(swagger_ui.FILES)  # no source maps
    assert (dest / "swagger-ui-bundle.js").read_text() == "swagger-ui-bundle.js of 5.35.0"
    assert swagger_ui.ensure(root).endswith("(up to date)")


def test_a_changed_file_is_copied_again_and_strays_are_removed(tmp_path):
    root = _project(tmp_path)
    swagger_ui.ensure(root)
    dest = root / swagger_ui.VENDOR
    (dest / "swagger-ui.css").write_text("edited by hand")
    (dest / "swagger-ui-4.js").write_text("left by an older version")
    assert swagger_ui.ensure(root).endswith("(1 file(s) copied, 1 removed)")
    assert (dest / "swagger-ui.css").read_text() == "swagger-ui.css of 5.35.0"
    assert not (dest / "swagger-ui-4.js").exists()


@pytest.mark.parametrize(("pinned", "installed", "message"), [
    ("5.35.0", None, "node_modules/swagger-ui-dist is missing"),
    ("5.36.0", "5.35.0", "is 5.35.0, package.json pins 5.36.0"),
])
def test_a_missing_or_stale_package_fails_loudly(tmp_path, pinned, installed, message):
    root = _project(tmp_path, pinned=pinned, installed=installed)
    with pytest.raises(swagger_ui.SwaggerUIMissing, match=message):
        swagger_ui.ensure(root)
    assert not (root / swagger_ui.VENDOR).exists()


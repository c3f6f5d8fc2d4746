"""Prove that the committed htmx copy is the file of the htmx.org package that package-lock.json locks.

Fetches the locked tarball with `npm pack`, checks it against the lock's `integrity`, extracts dist/htmx.min.js and
compares it byte for byte with web/static/vendor/htmx.min.js. Exits 1 with the reason on any difference, and when npm
is missing: CI must never pass this check by skipping it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "htmx.org"
FILE_IN_TARBALL = "package/dist/htmx.min.js"
COPY = Path("web/static/vendor/htmx.min.js")
NPM_TIMEOUT_SECONDS = 300
# Strongest first: the lock may list several hashes, and the strongest one it has is the one that counts.
SRI_ALGORITHMS = ("sha512", "sha384", "sha256", "sha1")


class CheckFailed(Exception):
    pass


@dataclass(frozen=True)
class LockedPackage:
    version: str
    integrity: str


def read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckFailed(f"{path.relative_to(ROOT)} is missing") from None
    except json.JSONDecodeError as error:
        raise CheckFailed(f"{path.relative_to(ROOT)} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise CheckFailed(f"{path.relative_to(ROOT)} does not hold a JSON object")
    return data


def locked_package() -> LockedPackage:
    lock = read_json(ROOT / "package-lock.json")
    packages = lock.get("packages")
    entry = packages.get(f"node_modules/{PACKAGE}") if isinstance(packages, dict) else None
    if not isinstance(entry, dict):
        raise CheckFailed(f"package-lock.json locks no {PACKAGE} (no packages['node_modules/{PACKAGE}'])")
    version, integrity = entry.get("version"), entry.get("integrity")
    if not isinstance(version, str) or not isinstance(integrity, str):
        raise CheckFailed(f"package-lock.json gives {PACKAGE} no version or no integrity")
    manifest = read_json(ROOT / "package.json")
    dependencies = manifest.get("dependencies")
    wanted = dependencies.get(PACKAGE) if isinstance(dependencies, dict) else None
    if wanted != version:
        raise CheckFailed(
            f"package.json asks for {PACKAGE} {wanted!r} but package-lock.json locks {version}: "
            "pin the exact version in package.json and run `npm install --package-lock-only`"
        )
    return LockedPackage(version=version, integrity=integrity)


def npm_executable() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise CheckFailed(
            "npm is not installed (Node.js): it is needed to fetch the locked htmx.org tarball; "
            "install Node.js and npm (Debian: apt-get install nodejs npm)"
        )
    return npm


def fetch_tarball(npm: str, package: LockedPackage, into: Path) -> Path:
    spec = f"{PACKAGE}@{package.version}"
    try:
        result = subprocess.run(
            [npm, "pack", spec, "--json", "--pack-destination", str(into)],
            cwd=into,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"`npm pack {spec}` did not finish in {NPM_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        raise CheckFailed(f"`npm pack {spec}` failed (exit {result.returncode}):\n{result.stderr.strip()}")
    tarballs = sorted(into.glob("*.tgz"))
    if len(tarballs) != 1:
        raise CheckFailed(f"`npm pack {spec}` left {len(tarballs)} tarballs, expected one")
    return tarballs[0]


def verify_integrity(tarball: Path, integrity: str) -> str:
    hashes: dict[str, str] = {}
    for token in integrity.split():
        name, _, digest = token.partition("-")
        hashes.setdefault(name, digest.split("?", 1)[0])
    algorithm = next((name for name in SRI_ALGORITHMS if name in hashes), None)
    if algorithm is None:
        raise CheckFailed(f"package-lock.json's integrity {integrity!r} uses no hash this check knows")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode("ascii")
    if actual != hashes[algorithm]:
        raise CheckFailed(
            f"the tarball npm fetched ({tarball.name}) does not match package-lock.json: "
            f"{algorithm}-{hashes[algorithm]} locked, {algorithm}-{actual} fetched"
        )
    return algorithm


def file_in_tarball(tarball: Path) -> bytes:
    with tarfile.open(tarball, "r:gz") as archive:
        try:
            member = archive.getmember(FILE_IN_TARBALL)
        except KeyError:
            raise CheckFailed(f"{tarball.name} holds no {FILE_IN_TARBALL}") from None
        extracted = archive.extractfile(member) if member.isfile() else None
        if extracted is None:
            raise CheckFailed(f"{FILE_IN_TARBALL} in {tarball.name} is not a regular file")
        return extracted.read()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check() -> str:
    package = locked_package()
    npm = npm_executable()
    copy_path = ROOT / COPY
    if not copy_path.is_file():
        raise CheckFailed(f"{COPY} is missing: run `make assets` and commit it")
    committed = copy_path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="check-assets-") as scratch:
        tarball = fetch_tarball(npm, package, Path(scratch))
        algorithm = verify_integrity(tarball, package.integrity)
        locked = file_in_tarball(tarball)
    if committed != locked:
        raise CheckFailed(
            f"{COPY} is not {PACKAGE}@{package.version}'s dist/htmx.min.js:\n"
            f"  committed: {len(committed)} bytes, sha256 {sha256(committed)}\n"
            f"  locked:    {len(locked)} bytes, sha256 {sha256(locked)}\n"
            "run `make assets` and commit the copy it makes (never edit or copy it by hand)"
        )
    return (
        f"{COPY} is {PACKAGE}@{package.version}'s dist/htmx.min.js, byte for byte "
        f"({len(committed)} bytes, sha256 {sha256(committed)}; tarball {algorithm} matches package-lock.json)"
    )


def main() -> int:
    try:
        message = check()
    except CheckFailed as failure:
        print(f"check-assets: FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"check-assets: ok: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `nasc compile` output: one file holding the IR and the weights, and loading it back.

The file is a `torch.save` of a plain dict, so `torch.load(path, weights_only=True)` reads it
without running any pickled code:

    format          "nasc.artifact"           (what this file is)
    format_version  1                         (layout of this dict)
    nasc_version    "0.1.0"                   (who wrote it)
    ir_version      IR version of the model   (newer than this nasc reads: refused)
    ir              the model as self-contained JSON (imported ops included)
    overrides       the `--set` param overrides it was compiled with (provenance; already in the IR)
    meta            small provenance: passes run, seed
    state_dict      the module's weights and buffers
    sha256          hex digest of everything above (IR, overrides, meta, weights)

`load_module` refuses a truncated file, an unknown format, a newer IR version and a hash mismatch
(tampered IR or weights) with an `ArtifactError` that says which.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nasc import __version__
from nasc.errors import ArtifactError, NascError
from nasc.atomic import atomic_write
from nasc.ir.model import IR_VERSION, Model
from nasc.limits import check_memory, format_size, is_regular_file
from nasc.lower.net import NascNet, build_module

FORMAT_TAG = "nasc.artifact"
FORMAT_VERSION = 1
MAX_ZIP_ENTRIES = 100_000  # a model file holds one entry per tensor plus a few
_REQUIRED = ("format_version", "nasc_version", "ir_version", "ir", "overrides", "meta", "state_dict", "sha256")


@dataclass(frozen=True)
class Artifact:
    """The decoded contents of a compiled model file."""

    model: Model
    state_dict: dict[str, torch.Tensor]
    overrides: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    nasc_version: str = __version__


def model_to_json(model: Model) -> str:
    """The model as self-contained JSON (every op it uses included, so loading needs no files)."""
    try:
        from nasc.ir.serde import to_json
    except ImportError:  # serde not available: pydantic's dump includes imported ops too
        return model.model_dump_json()
    try:
        return to_json(model, self_contained=True)  # type: ignore[call-arg]
    except TypeError:
        return model.model_dump_json()


def model_from_json(text: str, path: str) -> Model:
    """Rebuild the model written by `model_to_json` (no library files are read: the ops are in it)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}: the stored IR is not JSON: {e.msg}", hint="recompile it with `nasc compile`") from None
    try:
        from nasc.ir.serde import from_data
    except ImportError:
        from_data = None
    try:
        return from_data(data, path) if from_data is not None else Model.model_validate(data)
    except Exception as e:  # a NascError from serde or pydantic's: the stored IR is unusable
        msg = e.message if isinstance(e, NascError) else str(e).splitlines()[0]
        raise ArtifactError(f"{path}: the stored IR does not load: {msg}",
                            hint="the file may come from an incompatible nasc version") from None


def _digest(ir: str, overrides: Mapping[str, Any], meta: Mapping[str, Any],
            state_dict: Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    h.update(FORMAT_TAG.encode())
    for part in (ir, json.dumps(overrides, sort_keys=True), json.dumps(meta, sort_keys=True)):
        data = part.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_artifact(path: str | os.PathLike[str], model: Model, module: torch.nn.Module,
                  overrides: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None) -> Path:
    """Write `model` and `module`'s weights to `path` atomically (temporary file + rename)."""
    ir = model_to_json(model)
    ov = dict(overrides or {})
    mt = dict(meta or {})
    sd = {k: v.detach().to("cpu") for k, v in module.state_dict().items()}
    payload = {
        "format": FORMAT_TAG,
        "format_version": FORMAT_VERSION,
        "nasc_version": __version__,
        "ir_version": model.ir_version,
        "ir": ir,
        "overrides": ov,
        "meta": mt,
        "state_dict": sd,
        "sha256": _digest(ir, ov, mt, sd),
    }
    return atomic_write(path, lambda f: torch.save(payload, f))


def _check_container(p: str) -> None:
    """Refuse, before `torch.load` reads anything, a file whose zip directory promises more data
    than a model file can hold: `torch.save` stores entries uncompressed, so a compressed entry
    (a zip bomb's tool), an entry larger than the file, or a total beyond the file's size (and the
    memory limit) is refused from the central directory alone."""
    size = os.path.getsize(p)
    check_memory(size, "the model file", key=p, error=ArtifactError)
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ArtifactError(f"{p}: cannot read the file (truncated or not a nasc model file): {e}",
                            hint="recompile it with `nasc compile`") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ArtifactError(f"{p}: {len(infos):,} entries in the archive (a model file has at most "
                            f"{MAX_ZIP_ENTRIES:,})", hint="the file is not from `nasc compile`")
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise ArtifactError(f"{p}: entry `{info.filename}` is compressed; `nasc compile` writes "
                                "stored entries (a compressed one may be a zip bomb)",
                                hint="recompile it with `nasc compile`")
        if info.file_size > size:
            raise ArtifactError(f"{p}: entry `{info.filename}` claims {format_size(info.file_size)}, more "
                                f"than the whole file ({format_size(size)})", hint="the file is corrupt or hostile")
        total += info.file_size
    if total > size:
        raise ArtifactError(f"{p}: the archive claims {format_size(total)} of data in a file of "
                            f"{format_size(size)}", hint="the file is corrupt or hostile")


def read_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Read and check a compiled model file (container sizes, format, IR version, hash, then the
    IR itself: the hash is no authentication, so a re-hashed edited IR is verified like any
    source); `ArtifactError` if bad."""
    p = str(path)
    if not is_regular_file(p):
        what = "no such file" if not os.path.lexists(p) else "not a regular file"
        raise ArtifactError(f"{p}: {what}", hint="compile one with `nasc compile SRC -o model.pt`")
    _check_container(p)
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # zip/pickle errors of a truncated or foreign file
        raise ArtifactError(f"{p}: cannot read the file (truncated or not a nasc model file): "
                            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}",
                            hint="recompile it with `nasc compile`") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_TAG:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ArtifactError(f"{p}: unknown format {found!r} (expected {FORMAT_TAG!r})",
                            hint="this is not a file written by `nasc compile`")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ArtifactError(f"{p}: incomplete nasc model file (missing {', '.join(missing)})",
                            hint="recompile it with `nasc compile`")
    fv = payload["format_version"]
    if not isinstance(fv, int) or fv > FORMAT_VERSION:
        raise ArtifactError(f"{p}: file format version {fv!r} is newer than this nasc reads ({FORMAT_VERSION})",
                            hint=f"it was written by nasc {payload['nasc_version']}; upgrade nasc")
    iv = payload["ir_version"]
    if not isinstance(iv, int) or iv > IR_VERSION:
        raise ArtifactError(f"{p}: IR version {iv!r} is newer than this nasc reads ({IR_VERSION})",
                            hint=f"it was written by nasc {payload['nasc_version']}; upgrade nasc")
    ir, ov, mt, sd = payload["ir"], payload["overrides"], payload["meta"], payload["state_dict"]
    if not (isinstance(ir, str) and isinstance(ov, dict) and isinstance(mt, dict) and isinstance(sd, dict)
            and all(isinstance(v, torch.Tensor) for v in sd.values())):
        raise ArtifactError(f"{p}: malformed nasc model file", hint="recompile it with `nasc compile`")
    if _digest(ir, ov, mt, sd) != payload["sha256"]:
        raise ArtifactError(f"{p}: hash mismatch: the IR or the weights were modified after the file was written",
                            hint="recompile it with `nasc compile`; do not edit the file by hand")
    model = model_from_json(ir, p)
    if model.ir_version > IR_VERSION:
        raise ArtifactError(f"{p}: IR version {model.ir_version} is newer than this nasc reads ({IR_VERSION})",
                            hint="upgrade nasc")
    _verify_stored(model, p)
    return Artifact(model=model, state_dict=sd, overrides=ov, meta=mt, nasc_version=str(payload["nasc_version"]))


def _verify_stored(model: Model, p: str) -> None:
    """The stored IR checked as a loaded source would be (names, arity, placement, cycles)."""
    from nasc.ir.verify import verify
    from nasc.ops.registry import primitive_table

    try:
        errors = verify(model, primitive_table())
    except RecursionError:
        raise ArtifactError(f"{p}: the stored IR is nested too deeply", hint="recompile it with `nasc compile`") from None
    if errors:
        first = min(errors, key=lambda e: e.sort_key())
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ArtifactError(f"{p}: the stored IR is invalid: {first.message}{more}", key=p,
                            hint="the file was edited after `nasc compile` wrote it; recompile it")


def load_module(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> NascNet:
    """Rebuild the module stored in a compiled model file and load its weights (eval mode)."""
    from nasc.analysis.elaborate import elaborate

    art = read_artifact(path)
    try:
        net = build_module(elaborate(art.model))
    except NascError as e:
        raise ArtifactError(f"{path}: the stored model does not build: {e.message}", e.span, e.hint) from e
    try:
        net.load_state_dict(art.state_dict, strict=True)
    except RuntimeError as e:
        raise ArtifactError(f"{path}: the weights do not fit the stored model: {str(e).splitlines()[0]}",
                            hint="recompile it with `nasc compile`") from None
    net.artifact_overrides = dict(art.overrides)
    net.artifact_meta = dict(art.meta)
    return net.to(map_location).eval()

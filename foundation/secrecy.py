"""Secrets (passwords in URLs, object-store keys, tokens) come from the environment, never from the
campaign YAML, and are masked in every log line, artifact and warehouse text.

- The YAML names a secret as ``${ENV_VAR}`` (the whole value, or the password of a URL:
  ``sftp://lab:${SOCSCOPE_NAS_PASSWORD}@nas/afm``); ``load_campaign`` refuses a literal secret with
  the key path and the variable to use (:func:`literal_secrets`), then fills the references in
  (:func:`interpolate`).
- Every value filled into a secret position, and the values of the process's own secret-named
  environment variables (``*_PASSWORD``, ``*_SECRET``, ``*_TOKEN``, ``*_AUTH_STRING``...), is
  registered; :func:`redact` replaces registered values and any URL password by ``***``.
- :func:`install_log_redaction` masks every log record this process creates (Prefect's API log
  handler included: prints of a flow become log records too); artifacts go through
  :func:`redact_obj`; the warehouse masks registered values in text columns before it writes.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any, Iterator
from urllib.parse import urlsplit

MASK = "***"
#: ``${NAME}``: an environment variable reference in a campaign YAML value
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: key names that hold a secret anywhere in the config (matched case-insensitively in the name)
SECRET_NAME = re.compile(r"pass(word|wd)?$|secret|token|api_?key|access_?key|account_?key|private_?key|"
                         r"sas_?token|credential|auth_?string|connection_?string", re.I)
#: what fsspec's storage_options call a key: s3fs ``key``/``secret``, adlfs ``account_key``...
STORAGE_SECRET_NAME = re.compile(r"^(key|password|secret)$", re.I)
#: values of secret-named keys that are not secrets (gcsfs token modes)
NOT_SECRET_VALUES = {"anon", "google_default", "cloud", "cache", "browser", ""}
#: the password of ``scheme://user:password@host``
URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)([^\s@/]+)(@)")
#: environment variables whose values this process masks wherever they appear
SECRET_ENV = re.compile(r"(PASSWORD|PASSWD|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|TOKEN|AUTH_STRING|API_KEY)$")
MIN_SECRET_LEN = 6  # shorter values would mask ordinary words (and warehouse paths); a secret that short protects nothing

_lock = threading.Lock()
_secrets: set[str] = set()


# ------------------------------------------------------------------------------------- the registry
def register(value: Any) -> None:
    text = str(value) if value is not None else ""
    if len(text) >= MIN_SECRET_LEN and text.lower() not in {"true", "false", "none", "null"}:
        with _lock:
            _secrets.add(text)


def register_environment(env: dict[str, str] | None = None) -> None:
    """Register the values of secret-named environment variables (and a database URL's password)."""
    for name, value in (os.environ if env is None else env).items():
        if SECRET_ENV.search(name.upper()):
            register(value)
        elif name.upper().endswith(("DATABASE_URL", "CONNECTION_URL")):
            register(_url_password(value))


def registered() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def _url_password(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        return parts.password if parts.scheme and parts.netloc else None
    except ValueError:
        return None


# ------------------------------------------------------------------------------------- masking
def redact(text: str) -> str:
    """``text`` with every registered secret and every URL password replaced by ``***``."""
    if "://" in text and "@" in text:
        text = URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    for secret in sorted(registered(), key=len, reverse=True):  # longest first: one may contain another
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_obj(obj: Any) -> Any:
    """``redact`` on every string inside lists, tuples and dicts (artifact rows, reports)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


def redact_arrow(table):
    """A pyarrow table with registered secrets masked in its text columns (unchanged when none are)."""
    secrets = registered()
    if not secrets:
        return table
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        col = table.column(i)
        for secret in sorted(secrets, key=len, reverse=True):
            if pc.any(pc.match_substring(col, secret)).as_py():
                col = pc.replace_substring(col, secret, MASK)
        table = table.set_column(i, field, col)
    return table


_installed = False


def install_log_redaction() -> None:
    """Mask secrets in every log record created from now on in this process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    base = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = base(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a record whose arguments do not format is left to logging
        return
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact(text)


# ------------------------------------------------------------------------------------- the config
def _walk(node: Any, path: str = "", name: str = "") -> Iterator[tuple[str, str, Any]]:
    """(key path, key name, value) of every leaf of a YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k), str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]", "")
    else:
        yield path, name, node


def _is_secret_key(path: str, name: str) -> bool:
    return bool(SECRET_NAME.search(name)) or (".storage_options" in f".{path}" and
                                              bool(STORAGE_SECRET_NAME.match(name)))


def env_name_for(path: str) -> str:
    """A suggested variable name for a key path: ``shares[1].storage_options.password`` ->
    ``SOCSCOPE_SHARES_1_STORAGE_OPTIONS_PASSWORD``."""
    return "SOCSCOPE_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_").upper()


def literal_secrets(data: Any) -> list[str]:
    """One line per secret written in the YAML itself, naming its key path and the variable to use."""
    problems = []
    for path, name, value in _walk(data):
        if value is None or isinstance(value, bool):
            continue
        text = str(value).strip()
        if _is_secret_key(path, name) and not REFERENCE.fullmatch(text) and text.lower() not in NOT_SECRET_VALUES:
            problems.append(f"  {path}: a secret written in the campaign file; write ${{{env_name_for(path)}}} "
                            f"and set that environment variable")
        password = _url_password(text)
        if password is not None and not REFERENCE.fullmatch(password):
            problems.append(f"  {path}: a password in the URL; write it as user:${{{env_name_for(path)}_PASSWORD}}@"
                            f"host and set that environment variable")
    return problems


def interpolate(data: Any, env: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """``data`` with every ``${NAME}`` filled from the environment; values filled into a secret
    position are registered for masking. Returns (data, one line per variable that is not set)."""
    env = os.environ if env is None else env
    missing: list[str] = []

    def fill(node: Any, path: str, name: str) -> Any:
        if isinstance(node, dict):
            return {k: fill(v, f"{path}.{k}" if path else str(k), str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v, f"{path}[{i}]", "") for i, v in enumerate(node)]
        if not isinstance(node, str) or "${" not in node:
            return node
        absent = [m for m in REFERENCE.findall(node) if m not in env]
        if absent:
            missing.extend(f"  {path}: environment variable {m} is not set" for m in absent)
            return node
        filled = REFERENCE.sub(lambda m: env[m.group(1)], node)
        if _is_secret_key(path, name):
            register(filled)
        register(_url_password(filled))
        return filled

    return fill(data, "", ""), missing


def register_config_secrets(data: Any) -> None:
    """Register the secrets a loaded config holds (values of secret-named keys, URL passwords), as
    :func:`interpolate` did when it was loaded: for a process that receives a loaded campaign
    (a Dask worker) instead of loading it."""
    register_environment()
    install_log_redaction()
    for path, name, value in _walk(data):
        if not isinstance(value, str):
            continue
        if _is_secret_key(path, name) and value.lower() not in NOT_SECRET_VALUES:
            register(value)
        register(_url_password(value))

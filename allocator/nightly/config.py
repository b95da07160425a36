"""Configuration of `allocator nightly`: a TOML file whose keys are the option names.

Every command-line option of ``nightly`` (dashes as underscores) is a key of the file;
an option given on the command line wins over the file, the file over the default. The
file is validated strictly: an unknown key, a wrong type or a value out of range is an
error (exit 2), never ignored. Relative paths in the file (``instance``, ``publish``,
``lock`` and the file of a ``sqlite:///`` store) are relative to the file's folder, so
a cron job or a systemd unit need not ``cd`` first.

```toml
instance = "/srv/supply/instance"     # folder or .xlsx refreshed upstream every day
publish = "/srv/supply/plan"          # the folder the company reads
store = "sqlite:///runs.db"           # or "postgresql://allocator@db/allocator"
frozen_periods = 2
change_penalty = 50000.0
time_limit = 1800
mip_gap = 0.0001
threads = 2
```
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from allocator.data.schema import MAX_MONEY, MAX_PERIODS
from allocator.limits import DEFAULT_SEED, MAX_SEED, MAX_THREADS
from allocator.nightly import DEFAULT_STORE
from allocator.nightly.lock import lock_path_for


class ConfigError(ValueError):
    """The configuration (file or options) is invalid."""


@dataclass(frozen=True)
class NightlyConfig:
    """Everything one nightly run is run with; field names are the config keys."""

    instance: Path
    publish: Path
    store: str = DEFAULT_STORE
    lock: Path | None = None
    frozen_periods: int = 0
    change_penalty: float = 0.0
    time_limit: float | None = None
    mip_gap: float = 1e-4
    threads: int = 1
    seed: int = DEFAULT_SEED
    strict: bool = False
    mip_start: bool = True
    log: bool = False

    @property
    def lock_path(self) -> Path:
        """The published folder's lock, which every run takes (`lock_path_for`)."""
        return lock_path_for(self.publish)

    @property
    def extra_lock_path(self) -> Path | None:
        """The ``--lock`` file, taken as well as `lock_path` (None: not given, or the same)."""
        if self.lock is None or self.lock.absolute().resolve() == self.lock_path:
            return None
        return self.lock.absolute()

    @property
    def solver_log_path(self) -> Path:
        """HiGHS's log of the run in progress (kept in the store when the run ends)."""
        publish = self.publish.absolute()
        return publish.with_name(publish.name + ".highs.log")

    def as_dict(self) -> dict[str, Any]:
        return {
            item.name: str(value) if isinstance(value, Path) else value
            for item in fields(self)
            for value in [getattr(self, item.name)]
        }


KEYS: tuple[str, ...] = tuple(item.name for item in fields(NightlyConfig))
PATH_KEYS = ("instance", "publish", "lock")


INT_RANGES: dict[str, tuple[int, int]] = {
    "frozen_periods": (0, MAX_PERIODS),
    "threads": (1, MAX_THREADS),
    "seed": (0, MAX_SEED),
}
"""The range of each whole-number key (HiGHS's seed range, the schema's period limit)."""
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "change_penalty": (0.0, MAX_MONEY),
    "mip_gap": (0.0, 1.0),
    "time_limit": (0.0, math.inf),
}
"""The range of each number key; ``mip_gap`` < 1 and ``time_limit`` > 0 strictly."""


def _check_value(key: str, value: Any) -> Any:
    """``value`` of ``key`` converted to its type; ConfigError naming the key otherwise."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ConfigError(f"{key} must be {what}, not {value!r}")

    if key in PATH_KEYS or key == "store":
        need(isinstance(value, str | Path) and str(value) != "", "a non-empty path or URL")
        return Path(value) if key in PATH_KEYS else str(value)
    if key in ("strict", "mip_start", "log"):
        need(isinstance(value, bool), "true or false")
        return value
    if key in INT_RANGES:
        low, high = INT_RANGES[key]
        need(isinstance(value, int) and not isinstance(value, bool), "a whole number")
        need(low <= value <= high, f"a whole number in [{low}, {high}]")
        return int(value)
    if key == "time_limit" and value is None:
        return None
    low_number, high_number = NUMBER_RANGES[key]
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    need(is_number and math.isfinite(float(value)), "a finite number")
    number = float(value)
    if key == "time_limit":
        need(number > 0, "a number of seconds > 0")
    elif key == "mip_gap":
        need(0 <= number < 1, "a relative gap in [0, 1)")
    else:
        need(low_number <= number <= high_number, f"a number in [{low_number:g}, {high_number:g}]")
    return number


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's keys, checked, with relative paths made relative to its folder."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(key) for key in unknown)} (known keys: {', '.join(KEYS)})"
        )
    folder = path.absolute().parent
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            values[key] = _check_value(key, value)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
        if key in PATH_KEYS and not values[key].is_absolute():
            values[key] = folder / values[key]
    if "store" in values:
        values["store"] = _sqlite_relative_to(values["store"], folder)
    return values


def _sqlite_relative_to(url: str, folder: Path) -> str:
    """``sqlite:///runs.db`` in a config file means runs.db beside the file."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        database = url[len(prefix) :]
        if database and database != ":memory:":
            return prefix + str(folder / database)
    return url


def load_config(path: Path | None, options: dict[str, Any]) -> NightlyConfig:
    """Defaults, then the file at ``path``, then ``options`` (None = not given)."""
    values = read_config_file(path) if path is not None else {}
    for key, value in options.items():
        if key not in KEYS:
            raise ConfigError(f"unknown option {key!r}")
        if value is not None:
            values[key] = _check_value(key, value)
    for key in ("instance", "publish"):
        if key not in values:
            raise ConfigError(f"no {key}: give --{key} or set {key} in the config file")
    _check_store_url(values.get("store", DEFAULT_STORE))
    config = NightlyConfig(**values)
    if config.lock is not None:
        config = replace(config, lock=config.lock.absolute())
    return config


def _check_store_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from allocator.nightly.store import engine_url

    try:
        backend = make_url(engine_url(url)).get_backend_name()
    except ArgumentError:
        raise ConfigError(
            f"store must be a database URL (sqlite:///FILE or postgresql://...), not {url!r}"
        ) from None
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"store must be sqlite:///FILE or postgresql://..., not {url!r}")
    if backend == "sqlite" and (make_url(engine_url(url)).database or ":memory:") == ":memory:":
        raise ConfigError(
            f"store {url!r} is in memory and would keep no history; give a file: sqlite:///FILE"
        )

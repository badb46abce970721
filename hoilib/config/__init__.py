"""Parameters: the typed schema (``schema``) and the profiles that fill it (``profiles``)."""

from hoilib.config.profiles import (
    ALIASES,
    PROFILE_DIR,
    REPO,
    list_profiles,
    load_profile,
    parse_override,
    parse_overrides,
    parse_vary,
    resolve,
    resolve_device,
    stage_root,
    table,
)
from hoilib.config.schema import DIFFUSION_T, FIELDS, SYNTH_CROP, Params, range_text, type_name

__all__ = [
    "ALIASES",
    "DIFFUSION_T",
    "FIELDS",
    "PROFILE_DIR",
    "REPO",
    "SYNTH_CROP",
    "Params",
    "list_profiles",
    "load_profile",
    "parse_override",
    "parse_overrides",
    "parse_vary",
    "range_text",
    "resolve",
    "resolve_device",
    "stage_root",
    "table",
    "type_name",
]

"""Configuration helpers the transformer's config builds on (judge-side support module).

The names are the course's (`BaseConfig`, `config_dataclass`, `make_required_field`,
`make_fixed_field`); the code is ours. A config is a frozen dataclass: a field marked required
must be given a value other than None, a field marked fixed must keep its default.
"""

from dataclasses import dataclass, field, fields

config_dataclass = dataclass(frozen=True, repr=False)


def make_required_field():
    """A field that must be set (to anything but None) when the config is built."""
    return field(default=None, metadata={"required": True})


def make_fixed_field(default):
    """A field that keeps `default`: passing another value is an error."""
    return field(default=default, metadata={"fixed": True})


@config_dataclass
class BaseConfig:
    """Checks the required and fixed fields of every config dataclass built on it."""

    def __post_init__(self):
        missing, changed = [], []
        for f in fields(self):
            required, fixed = f.metadata.get("required", False), f.metadata.get("fixed", False)
            if required and fixed:
                raise AttributeError(f"field {f.name} cannot be both required and fixed")
            value = getattr(self, f.name)
            if required and value is None:
                missing.append(f.name)
            if fixed and value != f.default:
                changed.append(f.name)
        if missing or changed:
            lines = ["the config is not valid:"]
            if missing:
                lines.append("required fields not set: " + ", ".join(missing))
            if changed:
                lines.append("fixed fields changed: " + ", ".join(changed))
            raise ValueError("\n".join(lines))

    def __repr__(self):
        items = sorted((f.name, getattr(self, f.name)) for f in fields(self))
        body = "\n".join(f"  {k} = {v!r}" for k, v in items)
        return f"{type(self).__name__}(\n{body}\n)"

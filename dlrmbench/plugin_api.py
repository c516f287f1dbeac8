"""Types of the plugin contract: what a plugin registers and what the planner asks it.

Everything here is light (pydantic and the standard library) so that listing plugins and
validating suites never imports torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from dlrmbench.config.schema import Case
    from dlrmbench.host import Host

PluginKind = Literal["backend", "embedding", "dataset"]
KINDS: tuple[PluginKind, ...] = ("backend", "embedding", "dataset")


class PluginOptions(BaseModel):
    """Base class of every plugin's options model: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


CapabilityCheck = Callable[["Host", "Case | None", Any], "str | None"]


@dataclass(frozen=True)
class PluginSpec:
    """One implementation a plugin registers.

    Attributes:
        kind: ``backend``, ``embedding`` or ``dataset``.
        name: the name suites use, e.g. ``eager``.
        summary: one line for ``list-plugins``.
        factory: ``"module:attr"`` of the heavy implementation, imported only when a case runs.
        options: the pydantic model of the plugin's ``options:`` block.
        check: ``check(host, case, options)`` returns ``None`` when the plugin can run, or a human
            reason why not ("needs a CUDA GPU"). ``case`` is ``None`` when only the machine is asked
            (``list-plugins``). It must not import torch.
        requires: module names that must be importable (checked with ``find_spec``, no import).
        table_sizes: for datasets, ``table_sizes(options, case)`` gives the table sizes before the
            worker runs (the memory planner needs them), or None when only the data knows. Light.
    """

    kind: PluginKind
    name: str
    summary: str
    factory: str
    options: type[PluginOptions] = PluginOptions
    check: CapabilityCheck | None = None
    requires: tuple[str, ...] = ()
    table_sizes: Callable[[Any, "Case"], "list[int] | None"] | None = None
    source: str = field(default="", compare=False)

    def availability(self, host: "Host", case: "Case | None" = None, options: Any = None) -> str | None:
        """Return ``None`` if this implementation can run here (for ``case``), else why not."""
        for module in self.requires:
            if not module_available(module):
                return f"Python module {module!r} is not installed"
        if self.check is None:
            return None
        opts = options if options is not None else self.options()
        return self.check(host, case, opts)

    def load(self) -> Callable[..., Any]:
        """Import and return the factory named by :attr:`factory`."""
        module_name, _, attr = self.factory.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module


def module_available(name: str) -> bool:
    """True when ``name`` could be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False

"""The base of every scenario and target model: frozen, no unknown fields, finite numbers.

Its own module so that the scenario models may name target models (an inline Compose target)
and the target models the scenario's field types, without an import cycle.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, allow_inf_nan=False)

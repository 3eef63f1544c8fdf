"""The `verification:` block of a label-verification job spec."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_BATCH_SIZE = 25
MAX_BATCH_SIZE = 100
DEFAULT_VERDICT_LABELS = ("good", "bad")  # verdict 0: the label fits (item left checked); 1: it does not


class VerificationConfig(BaseModel):
    """Which label to verify and where its model confidence is.

    `label_attribute` names the manifest attribute holding the label: another job's output
    (`<attr>` + `<attr>-metadata.class-name`) or a plain label name. `confidence_field` is a
    dotted path into the line (default `<attr>-metadata.confidence`); 0-1 or percent.
    """

    model_config = ConfigDict(extra="forbid")

    label_attribute: str = Field(min_length=1)
    confidence_field: str | None = None
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE,
        ge=1,
        le=MAX_BATCH_SIZE,
        description="objects shown in one HIT (all share one label)",
    )

    @property
    def confidence_path(self) -> str:
        return self.confidence_field or f"{self.label_attribute}-metadata.confidence"

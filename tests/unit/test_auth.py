"""The caller's principal and what it may read."""

from __future__ import annotations

import pytest

from llmops.auth import AccessScope, Principal, principal_from_metadata, principal_metadata
from llmops.errors import InvalidArgument
from llmops.events import Classification

pytestmark = pytest.mark.unit


def test_missing_headers_give_the_embedded_defaults_with_internal_clearance() -> None:
    """No metadata: default tenant, anonymous, internal clearance, no groups."""
    principal = principal_from_metadata([], "default")
    assert principal == Principal(tenant="default", subject="anonymous", clearance=Classification.INTERNAL)


def test_headers_round_trip_to_downstream_calls() -> None:
    """What the gateway forwards is what retrieval reads back."""
    metadata = [("x-llmops-tenant", "acme"), ("x-llmops-user", "ann"), ("x-llmops-groups", "hr, legal ,"),
                ("x-llmops-clearance", "Restricted")]  # fmt: skip
    principal = principal_from_metadata(metadata, "default")
    assert (principal.groups, principal.clearance) == (("hr", "legal"), Classification.RESTRICTED)
    assert principal_from_metadata(principal_metadata(principal), "default") == principal


def test_an_unknown_clearance_is_refused_with_the_choices() -> None:
    """A typo in the clearance header is an error, not a silent downgrade or upgrade."""
    with pytest.raises(InvalidArgument, match="use one of public, internal, confidential, restricted"):
        principal_from_metadata([("x-llmops-clearance", "top-secret")], "default")


@pytest.mark.parametrize(
    ("clearance", "visible"),
    [
        (Classification.PUBLIC, ("public",)),
        (Classification.INTERNAL, ("public", "internal")),
        (Classification.RESTRICTED, ("public", "internal", "confidential", "restricted")),
    ],
)
def test_a_scope_sees_classifications_up_to_its_clearance(clearance: Classification, visible: tuple[str, ...]) -> None:
    """Clearance ≥ classification."""
    scope = AccessScope.of(Principal(tenant="acme", subject="ann", groups=("hr",), clearance=clearance))
    assert (scope.tenant, scope.classifications, scope.groups) == ("acme", visible, ("hr",))
